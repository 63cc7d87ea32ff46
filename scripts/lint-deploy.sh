#!/usr/bin/env bash
# Lints the deployment: cfn-lint and `sam validate --lint` on template.yaml, both offline, both
# installed here into the project's virtualenv. Any finding fails. Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

CFN_LINT_VERSION="1.58.0"
SAM_CLI_VERSION="1.170.0"
VENV=".venv"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if [ ! -x "$VENV/bin/cfn-lint" ] || [ ! -x "$VENV/bin/sam" ]; then
    echo "== installing cfn-lint==$CFN_LINT_VERSION and aws-sam-cli==$SAM_CLI_VERSION into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$SAM_CLI_VERSION"
fi

echo "== cfn-lint template.yaml"
"$VENV/bin/cfn-lint" template.yaml
echo "== sam validate --lint"
# Offline: a region is needed to pick the resource specification, no credentials are used.
SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 "$VENV/bin/sam" validate --lint --template template.yaml
