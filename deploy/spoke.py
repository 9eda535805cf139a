#!/usr/bin/env python3
"""Package the spoke for CloudFormation StackSets (`make spoke`).

Service-managed StackSets refuse a template with a Transform, so the SAM
template is turned into plain CloudFormation here, offline, with the
aws-sam-translator library (the engine behind the AWS::Serverless
transform; no AWS call, no `sam` CLI), and the function's code becomes an
S3 location given by two parameters:

  CodeBucketPrefix  the code is read from the bucket <prefix>-<Region>: Lambda
                    reads a function's code from a bucket in the function's
                    own Region, so the artifact is uploaded to one bucket per
                    target Region, all named alike;
  CodeKey           the artifact's key, defaulting to the one written here
                    (its name carries a hash of its content, so that a new
                    build is a new key and CloudFormation updates the code).

Writes into --out: the zip (one entry, the bootstrap, mode 0755, fixed
timestamps, so the same binary gives the same zip) and template.json.
"""

import argparse
import hashlib
import io
import json
import os
import sys
import zipfile

TRANSLATOR_MISSING = (
    "deploy/spoke.py needs the aws-sam-translator Python library (it ships with "
    "this machine's pyenv Python 3.11, beside cfn-lint): python3 -c 'import samtranslator' fails"
)


def zip_bootstrap(path):
    """Return the bytes of a deterministic zip holding path as 'bootstrap'."""
    with open(path, "rb") as f:
        data = f.read()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = (0o100755 & 0xFFFF) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3  # Unix, so that the mode above is read
        z.writestr(info, data)
    return buf.getvalue()


class NoManagedPolicies:
    """The translator's managed-policy loader, which would call IAM to map
    managed policy names to ARNs. The template names none (its Policies are
    inline documents), so nothing is ever looked up."""

    def load(self):
        return {}


def partition_neutral(node):
    """The translator writes AWS managed policy ARNs for the partition of the
    Region it ran in ("arn:aws:..."); StackSets deploy to any partition's
    Regions, so those ARNs are written with ${AWS::Partition} instead."""
    if isinstance(node, dict):
        return {k: partition_neutral(v) for k, v in node.items()}
    if isinstance(node, list):
        return [partition_neutral(v) for v in node]
    if isinstance(node, str) and node.startswith("arn:aws:iam::aws:policy/"):
        return {"Fn::Sub": "arn:${AWS::Partition}:" + node[len("arn:aws:"):]}
    return node


def process(template_text, code_key, template_dir="."):
    """Return the transform-free template for the SAM template_text, whose
    relative paths are relative to template_dir."""
    # The translator resolves pseudo parameters for a Region; none ends up in
    # the output but the managed policy ARNs, made partition-neutral below.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        from samtranslator.translator.transform import transform
        from samtranslator.yaml_helper import yaml_parse
    except ImportError as e:
        sys.exit(f"{TRANSLATOR_MISSING} ({e})")

    sam = yaml_parse(template_text)
    params = sam.setdefault("Parameters", {})
    for name in ("CodeBucketPrefix", "CodeKey"):
        if name in params:
            sys.exit(f"template already has a parameter {name}")
    params["CodeBucketPrefix"] = {
        "Type": "String",
        # A bucket name is at most 63 characters; the longest Region name
        # and its dash take 16 of them.
        "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,46}$",
        "ConstraintDescription": "lowercase letters, digits, '.' and '-', at most 47 characters.",
        "Description": "The function's code is read from the S3 bucket <CodeBucketPrefix>-<Region> "
        "(Lambda reads code from a bucket in its own Region): one bucket per target Region, "
        "readable by the Organization (README, Across an Organization).",
    }
    params["CodeKey"] = {
        "Type": "String",
        "Default": code_key,
        "AllowedPattern": "^[^\\s]+\\.zip$",
        "ConstraintDescription": "an S3 key ending in .zip.",
        "Description": "Key of the code artifact (make spoke writes it and sets this default).",
    }
    code = {"Bucket": {"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"}, "Key": {"Ref": "CodeKey"}}
    functions = 0
    for logical_id, res in sam.get("Resources", {}).items():
        kind = res.get("Type", "")
        props = res.get("Properties", {})
        if kind == "AWS::Serverless::Function":
            if "InlineCode" in props:
                continue
            if props.get("CodeUri") != ".":
                sys.exit(f"{logical_id}: CodeUri {props.get('CodeUri')!r}: only the root build (CodeUri .) is packaged here")
            props["CodeUri"] = code
            functions += 1
        elif kind == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str) \
                and "://" not in props["DefinitionUri"]:
            # A local definition file is inlined, as sam package would
            # upload it: Definition takes the same document, and
            # DefinitionSubstitutions apply to it alike.
            path = os.path.join(template_dir, props.pop("DefinitionUri"))
            with open(path, encoding="utf-8") as f:
                props["Definition"] = yaml_parse(f.read())
        elif kind.startswith("AWS::Serverless::"):
            for key in ("DefinitionUri", "ContentUri", "CodeUri"):
                if isinstance(props.get(key), str) and "://" not in props[key]:
                    sys.exit(f"{logical_id}: {key} {props[key]!r} is a local path, which this packaging does not upload")
    if functions == 0:
        sys.exit("template has no AWS::Serverless::Function to package")

    out = transform(sam, {}, NoManagedPolicies())
    out = partition_neutral(out)
    if "Transform" in out:
        sys.exit("the translated template still declares a Transform")
    out["Description"] = (out.get("Description", "").rstrip() +
                          " (Processed for CloudFormation StackSets by make spoke: no transform.)").strip()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--template", default="template.yaml")
    ap.add_argument("--bootstrap", required=True, help="the arm64 Lambda bootstrap to package")
    ap.add_argument("--out", required=True, help="directory to write the zip and template.json to")
    args = ap.parse_args()

    artifact = zip_bootstrap(args.bootstrap)
    key = "sessionwatch/bootstrap-" + hashlib.sha256(artifact).hexdigest()[:16] + ".zip"
    with open(args.template, encoding="utf-8") as f:
        template = process(f.read(), key, os.path.dirname(os.path.abspath(args.template)))

    os.makedirs(args.out, exist_ok=True)
    zip_path = os.path.join(args.out, os.path.basename(key))
    with open(zip_path, "wb") as f:
        f.write(artifact)
    with open(os.path.join(args.out, "template.json"), "w", encoding="utf-8") as f:
        json.dump(template, f, indent=2, sort_keys=False)
        f.write("\n")
    print(f"{zip_path}  -> s3://<CodeBucketPrefix>-<Region>/{key}")
    print(f"{os.path.join(args.out, 'template.json')}  (CodeKey defaults to {key})")


if __name__ == "__main__":
    main()
