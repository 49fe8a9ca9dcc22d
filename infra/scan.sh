#!/usr/bin/env bash
# Static checks of the image, the Azure templates and the workflows; `make scan` (part of
# `make test`) runs it with the scanners of .venv-scan on PATH. Every scanner runs offline:
# nothing is downloaded while scanning, and any failed check fails the script.
#
#   hadolint:   Dockerfile (settings in .hadolint.yaml when present)
#   ShellCheck: the image entrypoint and this script
#   actionlint: .github/workflows/*.yml (runs shellcheck over every `run:` script)
#   checkov:    infra/ (bicep), Dockerfile (dockerfile), .github/workflows (github_actions)
#
# A checkov suppression is an inline `checkov:skip=CKV_ID:reason`; one without a reason fails.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in hadolint shellcheck actionlint checkov; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "scan.sh: $tool not found on PATH (run: make scan)" >&2
    exit 2
  fi
done

# checkov: no version check against PyPI, no guideline mapping or policy download from the
# Prisma/Bridgecrew platform, no GitHub API calls.
export CKV_SKIP_PACKAGE_UPDATE_CHECK=true
export BC_SKIP_MAPPING=TRUE
export CKV_GITHUB_CONFIG_FETCH_DATA=false

echo "== hadolint Dockerfile"
hadolint Dockerfile

echo "== shellcheck docker/entrypoint.sh infra/scan.sh"
shellcheck docker/entrypoint.sh infra/scan.sh

echo "== actionlint .github/workflows"
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
shopt -u nullglob
if ((${#workflows[@]} == 0)); then
  echo "scan.sh: no workflows under .github/workflows" >&2
  exit 1
fi
actionlint "${workflows[@]}"

echo "== suppressions carry a reason"
if grep -rnE 'checkov:skip=[A-Z0-9_]+[[:space:]]*($|[^:A-Z0-9_])' \
  --include='*.bicep' --include='*.bicepparam' --include='*.yml' --include='*.yaml' --include=Dockerfile \
  infra .github Dockerfile; then
  echo "scan.sh: every checkov:skip needs a reason (checkov:skip=CKV_ID:why)" >&2
  exit 1
fi

# One run per framework (a single run over all three takes twice as long); all three run
# before the script fails, so one report shows every failed check.
status=0
run_checkov() {
  echo "== checkov --framework $*"
  checkov --skip-download --quiet --compact --framework "$@" || status=1
}
shopt -s globstar nullglob
bicep_files=(infra/**/*.bicep)
shopt -u globstar nullglob
if ((${#bicep_files[@]} > 0)); then
  run_checkov bicep --directory infra
else
  echo "== checkov bicep: no .bicep files under infra/ yet"
fi
run_checkov dockerfile --file Dockerfile
run_checkov github_actions --directory .github/workflows

if ((status != 0)); then
  echo "scan.sh: checkov found failed checks (above)" >&2
  exit 1
fi
echo "scan.sh: all scanners passed"
