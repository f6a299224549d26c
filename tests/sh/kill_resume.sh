# Short kill test (scripts/kill_test.sh has the long one): six SIGKILLs of a
# training run, two of them while a checkpoint is being written, each followed
# by a resume; every checkpoint present at a kill parses, no temporary files
# pile up, and the final weights are bit for bit the uninterrupted run's.
set -euo pipefail
scripts/kill_test.sh --kills 6 --epochs 4 --seed 7
