#!/usr/bin/env bash
# Ten minutes of training per recipe, then gan_tf.evaluate on 10,000 samples: the
# "Quality in ten minutes" table in README.md. Run one job at a time on an
# otherwise idle machine (each job is timed), from the repository root:
#
#   benchmarks/ten_minutes.sh fashion_mnist-mlp fashion_mnist-pytorch ...
#   benchmarks/ten_minutes.sh all          # every job below, about 3 hours
#
# Jobs are <dataset>-<recipe>, dataset fashion_mnist or mnist, recipe one of:
#   mlp, maxout, dcgan, sagan   examples/<recipe>.flags
#   mlp-plain                   gan_tf's defaults (no moving average)
#   dcgan-wide                  examples/dcgan.flags at the dcgan defaults' widths
#   pytorch                     benchmarks/pytorch_mlp_gan.py (needs PyTorch:
#                               TORCH_PYTHON=/path/to/python with torch installed)
#   tf_tutorial                 benchmarks/tf_dcgan_tutorial.py
# Results: out/ten_minutes/<job>/ (gan_tf runs), <job>.log, and <job>.json, the
# evaluation, whose numbers the table shows. Data: ../shared/data/<dataset>, or
# SHARED_DATA=/folder/with/mnist/and/fashion_mnist.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/ten_minutes}
SHARED_DATA=${SHARED_DATA:-../shared/data}
TORCH_PYTHON=${TORCH_PYTHON:-python}
SECONDS_EACH=600
mkdir -p "$OUT"

evaluate() {  # job dataset source-flag
    python -m gan_tf.evaluate "$3" --dataset="$2" --manual_dir="$SHARED_DATA/$2" \
        --json="$OUT/$1.json" > "$OUT/$1.eval.txt" 2>&1 \
        || { echo "evaluation failed: see $OUT/$1.eval.txt"; return; }
    grep -E '^(fid|coverage|classes_covered) ' "$OUT/$1.eval.txt" | tr -s ' ' | paste -sd ' '
}

job() {
    local job=$1 dataset=${1%%-*} recipe=${1#*-}
    local data="$SHARED_DATA/$dataset"
    case " fashion_mnist mnist : mlp maxout dcgan sagan mlp-plain dcgan-wide pytorch tf_tutorial " in
        *" $dataset "*:*" $recipe "*) ;;
        *) echo "unknown job $job: see $0" >&2; return 1 ;;
    esac
    # Flags after the recipe's flagfile override it (absl reads them in order).
    local recipe_flags=(--flagfile="examples/${recipe%-*}.flags")
    [ "$recipe" = mlp-plain ] && recipe_flags=(--arch=mlp)
    [ "$recipe" = dcgan-wide ] && recipe_flags+=(--g_widths=128,64 --d_widths=64,128)
    local gan=(python -m gan_tf.main "${recipe_flags[@]}" --dataset="$dataset"
               --manual_dir="$data" --max_seconds=$SECONDS_EACH --epochs=1000
               --out_dir="$OUT" --run_name="$job" --overwrite)
    echo "$(date +%T) $job: training for $SECONDS_EACH s"
    case $recipe in
        mlp|maxout|dcgan|sagan|mlp-plain|dcgan-wide) "${gan[@]}" ;;
        pytorch) "$TORCH_PYTHON" benchmarks/pytorch_mlp_gan.py --batch_size=64 \
                     --mnist_dir="$data" --train_seconds=$SECONDS_EACH \
                     --samples="$OUT/$job.npy" ;;
        tf_tutorial) python benchmarks/tf_dcgan_tutorial.py --data_dir="$data" \
                         --train_seconds=$SECONDS_EACH --samples="$OUT/$job.npy" ;;
    esac > "$OUT/$job.log" 2>&1 || { echo "$job failed: see $OUT/$job.log" >&2; return 1; }
    echo "  $(grep -E 'stopped by|steps in' "$OUT/$job.log" | tail -1)"
    case $recipe in
        pytorch|tf_tutorial) echo "  $(evaluate "$job" "$dataset" --samples="$OUT/$job.npy")" ;;
        *) echo "  $(evaluate "$job" "$dataset" --export_dir="$OUT/$job/export")" ;;
    esac
}

jobs=("$@")
if [ "${jobs[*]:-}" = all ]; then
    jobs=()
    for dataset in fashion_mnist mnist; do
        for recipe in mlp maxout dcgan sagan mlp-plain dcgan-wide pytorch tf_tutorial; do
            jobs+=("$dataset-$recipe")
        done
    done
fi
[ ${#jobs[@]} -gt 0 ] || { sed -n '2,19p' "$0"; exit 1; }
for j in "${jobs[@]}"; do job "$j"; done
