#!/usr/bin/env bash
# npm run test:mutation [-- <module>…]: StrykerJS over each module of scripts/mutation-modules.mjs in turn (all of
# them by default), each run bounded by MUTATION_TIMEOUT seconds (default 3600), then the score of the modules
# together (scripts/mutation-score.ts). Not in CI: it takes long on two cores (docs/development.md, "Mutation
# testing"). Reports and incremental results go to MUTATION_REPORTS (default reports/mutation, ignored by git), so a
# second run tests again only the mutants whose code or tests changed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then
  modules=("$@")
else
  read -r -a modules <<<"$(node --input-type=module -e \
    "const { MODULES } = await import('./scripts/mutation-modules.mjs'); console.log(Object.keys(MODULES).join(' '))")"
fi
reports="${MUTATION_REPORTS:-reports/mutation}"
for module in "${modules[@]}"; do
  echo "test:mutation: $module" >&2
  MUTATION_MODULE="$module" MUTATION_REPORTS="$reports" timeout "${MUTATION_TIMEOUT:-3600}" npx stryker run
done
npx tsx scripts/mutation-score.ts "$reports" "${modules[@]}"
