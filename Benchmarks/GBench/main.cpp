// Google Benchmark harness for dwbench: one benchmark per (registry algorithm × shape-set entry).
//
//   .build/release/dwbench-gbench [--threads=N] [--shapes=SET]... [benchmark flags]
//
// Names are dw/<algorithm>/<layer>/<problem>/threads:<N>. Counters FLOP/s (direct-equivalent,
// 2·N·C·OH·OW·K² per iteration) and bytes/s (compulsory traffic) are rates. Plans are prepared once,
// outside the timed loop; caches are warm. Google Benchmark's own flags keep their meaning; only where one
// is not given does the harness default it (see usage()). Every repetition is reported in JSON output, so
// compare.py can run its U test.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dwbench_bridge.h"

namespace {

struct Case {
    void *handle = nullptr;
    ~Case() { if (handle) dw_case_destroy(handle); }
};

std::map<std::string, std::unique_ptr<Case>> &prepared() {
    static std::map<std::string, std::unique_ptr<Case>> cases;
    return cases;
}

void runCase(benchmark::State &state, int algorithm, std::string problem, int threads, std::string key) {
    auto &slot = prepared()[key];
    if (!slot) {
        char reason[512] = {0};
        slot = std::make_unique<Case>();
        slot->handle = dw_case_create(algorithm, problem.c_str(), threads, reason, sizeof reason);
        if (!slot->handle) {
            state.SkipWithError(reason);
            return;
        }
    }
    void *h = slot->handle;
    for (auto _ : state) {
        dw_case_run(h);
    }
    state.counters["FLOP/s"] = benchmark::Counter(dw_case_flops(h), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["bytes/s"] = benchmark::Counter(dw_case_bytes(h), benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::kIs1024);
}

void usage() {
    std::printf(
        "dwbench-gbench: Google Benchmark harness over dwbench's registry (one benchmark per algorithm and problem)\n"
        "\n"
        "  dwbench-gbench [--threads=N] [--shapes=SET]... [Google Benchmark flags]\n"
        "\n"
        "  --threads=N     threads per kernel (default: all %u cores)\n"
        "  --shapes=SET    a built-in set (replknet31b, replknet31b-pointwise), a shape file, or comma-separated\n"
        "                  problems such as n1c384h32w32k31s1p15 (repeatable; default: replknet31b, built in,\n"
        "                  so the binary runs from any directory)\n"
        "  --help          this text, then Google Benchmark's flags\n"
        "\n"
        "Defaults applied only when the flag is absent: --benchmark_min_time=0.05, --benchmark_repetitions=9,\n"
        "--benchmark_display_aggregates_only=true (the console shows mean/median/stddev/cv; --benchmark_out\n"
        "files keep every repetition for compare.py's U test), times in microseconds unless\n"
        "--benchmark_time_unit is given. Names: dw/<algorithm>/<layer>/<problem>/threads:<N>.\n"
        "Compare two runs: /usr/share/benchmark/compare.py benchmarks a.json b.json (Debian libbenchmark-tools).\n"
        "\n",
        std::thread::hardware_concurrency());
}

bool hasFlag(const std::vector<char *> &args, const char *name) {
    size_t n = std::strlen(name);
    for (char *a : args) {
        if (std::strncmp(a, name, n) == 0 && (a[n] == '=' || a[n] == 0)) return true;
    }
    return false;
}

bool takeFlag(const char *arg, const char *name, std::string &value) {
    size_t n = std::strlen(name);
    if (std::strncmp(arg, name, n) == 0 && arg[n] == '=') {
        value = arg + n + 1;
        return true;
    }
    return false;
}

}  // namespace

int main(int argc, char **argv) {
    int threads = (int)std::thread::hardware_concurrency();
    if (threads < 1) threads = 1;
    std::vector<std::string> shapeFiles;
    std::vector<char *> rest;
    rest.push_back(argv[0]);
    for (int i = 1; i < argc; i++) {
        std::string v;
        if (takeFlag(argv[i], "--threads", v)) {
            threads = std::atoi(v.c_str());
            if (threads < 1 || threads > 256) {
                std::fprintf(stderr, "dwbench-gbench: --threads must be 1...256, got '%s'\n", v.c_str());
                return 2;
            }
        } else if (takeFlag(argv[i], "--shapes", v)) {
            shapeFiles.push_back(v);
        } else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
            usage();
            rest.push_back(argv[i]);
        } else {
            rest.push_back(argv[i]);
        }
    }
    if (shapeFiles.empty()) shapeFiles.push_back("replknet31b");
    // Defaults only where the user gave no flag of their own.
    static std::string minTime = "--benchmark_min_time=0.05", repetitions = "--benchmark_repetitions=9",
                       aggregates = "--benchmark_display_aggregates_only=true";
    if (!hasFlag(rest, "--benchmark_min_time")) rest.push_back(minTime.data());
    if (!hasFlag(rest, "--benchmark_repetitions")) rest.push_back(repetitions.data());
    if (!hasFlag(rest, "--benchmark_display_aggregates_only") && !hasFlag(rest, "--benchmark_report_aggregates_only"))
        rest.push_back(aggregates.data());
    bool userUnit = hasFlag(rest, "--benchmark_time_unit");

    std::vector<std::pair<std::string, std::string>> shapes;  // (layer, problem), unique problems
    for (const auto &path : shapeFiles) {
        char error[512] = {0};
        void *file = dw_shapes_open(path.c_str(), error, sizeof error);
        if (!file) {
            std::fprintf(stderr, "dwbench-gbench: %s\n", error);
            return 2;
        }
        for (int i = 0; i < dw_shapes_count(file); i++) {
            char name[256], problem[256];
            dw_shapes_entry(file, i, name, problem, sizeof name);
            bool seen = false;
            for (const auto &s : shapes) seen = seen || s.second == problem;
            if (!seen) shapes.emplace_back(name, problem);
        }
        dw_shapes_close(file);
    }

    for (int a = 0; a < dw_algorithm_count(); a++) {
        char algorithm[128];
        dw_algorithm_name(a, algorithm, sizeof algorithm);
        for (const auto &[layer, problem] : shapes) {
            if (!dw_algorithm_solves(a, problem.c_str())) continue;
            std::string name = "dw/" + std::string(algorithm) + "/" + layer + "/" + problem + "/threads:" + std::to_string(threads);
            auto *b = benchmark::RegisterBenchmark(name.c_str(), runCase, a, problem, threads, name)->UseRealTime();
            if (!userUnit) b->Unit(benchmark::kMicrosecond);
        }
    }

    int n = (int)rest.size();
    benchmark::Initialize(&n, rest.data());
    if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return 2;
    benchmark::RunSpecifiedBenchmarks();
    prepared().clear();
    benchmark::Shutdown();
    return 0;
}
