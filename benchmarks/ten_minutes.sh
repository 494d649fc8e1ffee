#!/usr/bin/env bash
# What each recipe reaches in ten minutes of training, judged by gan_tf.evaluate on
# 10,000 samples: the "Quality in ten minutes" table in README.md. From the
# repository root:
#
#   benchmarks/ten_minutes.sh measure JOB...   # on an idle machine: 60 s of each
#   benchmarks/ten_minutes.sh JOB...           # train for those steps, evaluate
#   benchmarks/ten_minutes.sh all              # both, for every job below
#
# gan_tf's recipes run as a user types them: their architecture's default length
# is about ten minutes of training on a 2-core CPU (BUILD.md, "Default run
# lengths"). Every other job trains for the steps it makes in ten minutes on this
# machine: ten times what it makes in a 60-second run (`measure`, which needs the
# machine to itself), written to $OUT/steps/<recipe> and used for both datasets
# (their images have the same shape, so a step costs the same). Training then goes
# by steps, so its result does not depend on what else the machine is doing.
#
# Jobs are <dataset>-<recipe>, dataset fashion_mnist or mnist, recipe one of:
#   mlp, maxout, dcgan, sagan   gan_tf's defaults for that --arch (examples/*.flags)
#   mlp-last                    the mlp exporting its last weights, no moving average
#   dcgan-wide                  the dcgan at twice its default widths
#   pytorch                     benchmarks/pytorch_mlp_gan.py (needs PyTorch:
#                               TORCH_PYTHON=/path/to/python with torch installed)
#   tf_tutorial                 benchmarks/tf_dcgan_tutorial.py
# Results: out/ten_minutes/<job>/ (gan_tf runs), <job>.log, and <job>.json, the
# evaluation, whose numbers the table shows. Data: the datasets' original files in
# SHARED_DATA/<dataset> (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/ten_minutes}
SHARED_DATA=${SHARED_DATA:-../shared/data}
TORCH_PYTHON=${TORCH_PYTHON:-python}
mkdir -p "$OUT/steps"

evaluate() {  # job dataset source-flag
    python -m gan_tf.evaluate "$3" --dataset="$2" --manual_dir="$SHARED_DATA/$2" \
        --json="$OUT/$1.json" > "$OUT/$1.eval.txt" 2>&1 \
        || { echo "evaluation failed: see $OUT/$1.eval.txt"; return; }
    grep -E '^(fid|coverage|classes_covered) ' "$OUT/$1.eval.txt" | tr -s ' ' | paste -sd ' '
}

run() {  # job length-flags...: trains job, its log in $OUT/<job>.log
    local job=$1 dataset=${1%%-*} recipe=${1#*-}
    shift
    local data="$SHARED_DATA/$dataset"
    case " fashion_mnist mnist : mlp maxout dcgan sagan mlp-last dcgan-wide pytorch tf_tutorial " in
        *" $dataset "*:*" $recipe "*) ;;
        *) echo "unknown job $job: see $0" >&2; return 1 ;;
    esac
    local recipe_flags=(--flagfile="examples/${recipe%-*}.flags")
    [ "$recipe" = mlp-last ] && recipe_flags+=(--ema_decay=none --noexport_best)
    [ "$recipe" = dcgan-wide ] && recipe_flags+=(--g_widths=128,64 --d_widths=64,128)
    case $recipe in
        pytorch) "$TORCH_PYTHON" benchmarks/pytorch_mlp_gan.py --batch_size=64 \
                     --mnist_dir="$data" --samples="$OUT/$job.npy" "$@" ;;
        tf_tutorial) python benchmarks/tf_dcgan_tutorial.py --data_dir="$data" \
                         --samples="$OUT/$job.npy" "$@" ;;
        *) python -m gan_tf.main "${recipe_flags[@]}" --dataset="$dataset" \
               --manual_dir="$data" --out_dir="$OUT" --run_name="$job" --overwrite "$@" ;;
    esac > "$OUT/$job.log" 2>&1 || { echo "$job failed: see $OUT/$job.log" >&2; return 1; }
}

measure() {  # job: the steps it makes in 60 s, times ten, to $OUT/steps/<recipe>
    local job=$1 recipe=${1#*-} steps
    case $recipe in
        pytorch|tf_tutorial) run "$job" --train_seconds=60 ;;
        *) run "$job" --max_seconds=60 --max_steps=100000000 ;;
    esac
    steps=$(grep -oE '(step [0-9,]+ of|^[0-9]+ steps in)' "$OUT/$job.log" | tail -1 | tr -dc '0-9')
    echo $(( steps * 10 )) > "$OUT/steps/$recipe"
    echo "$(date +%T) $job: $steps steps in 60 s: $(( steps * 10 )) for ten minutes"
}

job() {
    local job=$1 recipe=${1#*-} dataset=${1%%-*} steps
    case $recipe in
        mlp|maxout|dcgan|sagan|mlp-last)
            echo "$(date +%T) $job: training gan_tf's default length"
            run "$job"
            echo "  $(evaluate "$job" "$dataset" --export_dir="$OUT/$job/export")"
            return ;;
    esac
    [ -f "$OUT/steps/$recipe" ] || measure "$job"
    steps=$(cat "$OUT/steps/$recipe")
    echo "$(date +%T) $job: training $steps steps"
    case $recipe in
        # PyTorch on one thread when training by steps: the same steps, and its
        # OpenMP threads, which spin while they wait, do not stall on a shared machine.
        pytorch|tf_tutorial) OMP_NUM_THREADS=1 run "$job" --train_seconds=100000 --max_steps="$steps"
                             echo "  $(evaluate "$job" "$dataset" --samples="$OUT/$job.npy")" ;;
        *) run "$job" --max_steps="$steps"
           echo "  $(evaluate "$job" "$dataset" --export_dir="$OUT/$job/export")" ;;
    esac
}

JOBS=()
for dataset in fashion_mnist mnist; do
    for recipe in mlp maxout dcgan sagan mlp-last dcgan-wide pytorch tf_tutorial; do
        JOBS+=("$dataset-$recipe")
    done
done
case "${1:-}" in
    measure) shift; [ "${1:-}" = all ] && set -- "${JOBS[@]}"
             for j in "$@"; do measure "$j"; done ;;
    all) for j in "${JOBS[@]}"; do job "$j"; done ;;
    '') sed -n '2,26p' "$0"; exit 1 ;;
    *) for j in "$@"; do job "$j"; done ;;
esac
