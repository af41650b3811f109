# Sourced by test.sh (always) and run.sh (when DATASET_GEN_OCR=1): make sure Tesseract and its
# English, Traditional and Simplified Chinese, Japanese and Korean language data are installed, for
# the OCR option (PyMuPDF's OCR reads Tesseract's *.traineddata files). Installs the Debian/Ubuntu
# packages with apt-get only when something is missing, so a second run costs one `tesseract` call.

_dg_ocr_langs="eng chi_tra chi_sim jpn kor"
_dg_ocr_missing() {
  command -v tesseract >/dev/null 2>&1 || return 0
  local have
  have="$(tesseract --list-langs 2>/dev/null)"
  for lang in $_dg_ocr_langs; do
    grep -qx "$lang" <<<"$have" || return 0
  done
  return 1
}
if _dg_ocr_missing; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "warning: OCR needs Tesseract with the languages $_dg_ocr_langs; install it (macOS: brew install tesseract tesseract-lang)" >&2
  else
    _dg_ocr_sudo=""
    if [ "$(id -u)" -ne 0 ]; then _dg_ocr_sudo="sudo"; fi
    echo "Installing Tesseract for OCR ..." >&2
    $_dg_ocr_sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $_dg_ocr_sudo apt-get install -y -qq tesseract-ocr tesseract-ocr-eng \
      tesseract-ocr-chi-tra tesseract-ocr-chi-sim tesseract-ocr-jpn tesseract-ocr-kor >/dev/null
  fi
fi
