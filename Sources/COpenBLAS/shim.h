// OpenBLAS (Debian libopenblas-dev): cblas_sgemm / cblas_sgemv and thread control.
#include <cblas.h>
