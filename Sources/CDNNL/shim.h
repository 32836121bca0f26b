// oneDNN (Debian libdnnl-dev): dnnl_sgemm, the reference SGEMM the pointwise benchmarks compare with.
#include <oneapi/dnnl/dnnl.h>
