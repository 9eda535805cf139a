"""Turns a SAM template into plain CloudFormation, offline, for moto.

Usage: python3 sam_translate.py TEMPLATE > translated.json

Runs aws-sam-translator (the library behind `sam deploy`'s transform) with
no AWS call: managed policies are left as named, and the region comes from
AWS_DEFAULT_REGION. The function's CodeUri gives way to a placeholder
InlineCode: moto's Lambda fetches a CodeUri's S3 object when it creates the
function (NoSuchBucket without one) and accepts inline code. A state
machine's local DefinitionUri is inlined as its Definition.
"""
import json
import os
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
    elif resource["Type"] == "AWS::Serverless::StateMachine" and "://" not in resource["Properties"].get("DefinitionUri", "://"):
        # A local definition file is inlined, as `sam package` would
        # upload it (and as deploy/spoke.py does).
        props = resource["Properties"]
        with open(os.path.join(os.path.dirname(sys.argv[1]), props.pop("DefinitionUri"))) as f:
            props["Definition"] = yaml_parse(f.read())
json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout, indent=1, sort_keys=True)
