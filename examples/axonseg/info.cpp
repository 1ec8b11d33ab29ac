// `axonseg info`: the version, how the library was built (CUDA or not), the threads the CPU
// backend will use, the oneDNN version, and the CUDA devices it sees.
#include "command.hpp"

#include "axonseg/axonseg.hpp"

#include <dnnl.hpp>

#include <cstdio>

namespace axonseg::cli {

int run_info(const Args& args) {
    boost::program_options::options_description options("info options");
    boost::program_options::variables_map vm;
    if (!parse(args, "usage: axonseg info", options, vm)) return 0;
    const dnnl_version_t* v = dnnl_version();
    std::printf("axonseg %s\n", AXONSEG_VERSION);
    std::printf("cpu threads: %d (OMP_NUM_THREADS to change)\n", thread_count());
    std::printf("oneDNN: %d.%d.%d\n", v->major, v->minor, v->patch);
    std::printf("cuda backend: %s\n", AXONSEG_WITH_CUDA ? "built" : "not built");
    std::printf("cuda devices: %d\n", cuda_device_count());
    return 0;
}

}  // namespace axonseg::cli
