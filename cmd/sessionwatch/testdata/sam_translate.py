"""Turns a SAM template into plain CloudFormation, offline, for moto.

Usage: python3 sam_translate.py TEMPLATE > translated.json

Runs aws-sam-translator (the library behind `sam deploy`'s transform) with
no AWS call: managed policies are left as named, and the region comes from
AWS_DEFAULT_REGION. The function's CodeUri gives way to a placeholder
InlineCode: moto's Lambda fetches a CodeUri's S3 object when it creates the
function (NoSuchBucket without one) and accepts inline code.
"""
import json
import sys

try:
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse
except ImportError as err:
    sys.exit(f"aws-sam-translator is not installed for {sys.executable}: {err}")


class NoManagedPolicies:
    """A policy loader that knows no managed policy (nothing is looked up)."""

    def load(self):
        return {}


with open(sys.argv[1]) as f:
    template = yaml_parse(f.read())
for resource in template["Resources"].values():
    if resource["Type"] == "AWS::Serverless::Function":
        props = resource["Properties"]
        props.pop("CodeUri", None)
        props["InlineCode"] = "placeholder"
json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout, indent=1, sort_keys=True)
