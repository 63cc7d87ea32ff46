#!/usr/bin/env bash
# Lints the deployment: cfn-lint and `sam validate --lint` on template.yaml, both offline, both
# installed here (pinned) into the project's virtualenv, the one scripts/moto.sh makes; then the
# checkov security scan, pinned, in a virtualenv of its own (.venv-checkov: checkov pins boto3,
# botocore, packaging and networkx to versions older than moto's and SAM CLI's). Any finding,
# even an informational one, fails. Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

CFN_LINT_VERSION="1.58.0"
SAM_CLI_VERSION="1.170.0"
CHECKOV_VERSION="3.3.30"
VENV=".venv"
CHECKOV_VENV=".venv-checkov"

# The checkov checks that do not apply to this template, each with its reason in SECURITY.md
# ("What the IaC scan reports, and why"). A check failing that is not listed here fails the lint.
CHECKOV_SKIPS=(
    CKV_AWS_115 # reserved concurrency per function: the HTTP API's throttling bounds it
    CKV_AWS_116 # a DLQ per function: only asynchronous invocations use one; the queue has its own
    CKV_AWS_117 # Lambda in a VPC: the functions reach only AWS endpoints and Facebook
    CKV_AWS_119 # the table under a customer-managed key: AWS-managed KMS key, retained table
    CKV_AWS_149 # secrets under a customer-managed key: AWS-managed key, resolved at deploy time
    CKV_AWS_158 # log groups under a customer-managed key: no secrets are logged
    CKV_AWS_27 # SQS encrypted with KMS: SQS-managed encryption is on (checkov counts KMS only)
)

if [ ! -x "$VENV/bin/python" ]; then
    # As scripts/moto.sh: Debian's system Python may lack ensurepip, then virtualenv does it.
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        python3 -m pip install --quiet --user virtualenv
        python3 -m virtualenv --quiet "$VENV"
    fi
fi
installed=$("$VENV/bin/python" - <<'EOF' 2>/dev/null || true
import importlib.metadata as m
print(m.version("cfn-lint"), m.version("aws-sam-cli"))
EOF
)
if [ "$installed" != "$CFN_LINT_VERSION $SAM_CLI_VERSION" ]; then
    echo "== installing cfn-lint==$CFN_LINT_VERSION and aws-sam-cli==$SAM_CLI_VERSION into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$SAM_CLI_VERSION"
fi

if [ ! -x "$CHECKOV_VENV/bin/python" ]; then
    if ! python3 -m venv "$CHECKOV_VENV" 2>/dev/null; then
        rm -rf "$CHECKOV_VENV"
        python3 -m pip install --quiet --user virtualenv
        python3 -m virtualenv --quiet "$CHECKOV_VENV"
    fi
fi
installed=$("$CHECKOV_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("checkov"))' 2>/dev/null || true)
if [ "$installed" != "$CHECKOV_VERSION" ]; then
    echo "== installing checkov==$CHECKOV_VERSION into $CHECKOV_VENV"
    "$CHECKOV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi

# Offline: a region is needed to pick the resource specification; no credentials are used.
export AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0
echo "== cfn-lint (errors, warnings and informational checks) template.yaml"
"$VENV/bin/cfn-lint" --include-checks I -- template.yaml
echo "== sam validate --lint"
"$VENV/bin/sam" validate --lint --template template.yaml
echo "== checkov (cloudformation) template.yaml, skipping ${CHECKOV_SKIPS[*]}"
skips=$(IFS=,; echo "${CHECKOV_SKIPS[*]}")
# Offline as well (--skip-download: no guidelines or policies fetched from Prisma Cloud).
"$CHECKOV_VENV/bin/checkov" -f template.yaml --framework cloudformation --skip-check "$skips" \
    --skip-download --compact --quiet
