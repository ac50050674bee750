// The OpenCL 1.2 API (what PoCL, NVIDIA and CLBlast all speak) and CLBlast's C API.
#ifndef LDM_COPENCL_SHIM_H
#define LDM_COPENCL_SHIM_H
#define CL_TARGET_OPENCL_VERSION 120
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>
#include <clblast_c.h>
#endif
