#!/usr/bin/env bash
# Lints the deployment: cfn-lint and `sam validate --lint` on template.yaml, both offline, both
# installed here (pinned) into the project's virtualenv, the one scripts/moto.sh makes. Any
# finding, even an informational one, fails. Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

CFN_LINT_VERSION="1.58.0"
SAM_CLI_VERSION="1.170.0"
VENV=".venv"

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

# Offline: a region is needed to pick the resource specification; no credentials are used.
export AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0
echo "== cfn-lint (errors, warnings and informational checks) template.yaml"
"$VENV/bin/cfn-lint" --include-checks I -- template.yaml
echo "== sam validate --lint"
"$VENV/bin/sam" validate --lint --template template.yaml
