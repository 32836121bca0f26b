// Google Benchmark harness for dwbench: one benchmark per (registry algorithm × shape-file entry).
//
//   .build/release/dwbench-gbench [--threads=N] [--shapes=FILE]... [benchmark flags]
//
// Defaults: all cores, Benchmarks/shapes/replknet31b.txt. Names are dw/<algorithm>/<layer>/<problem>/threads:<N>.
// Counters FLOP/s (direct-equivalent, 2·N·C·OH·OW·K² per iteration) and bytes/s (compulsory traffic) are
// rates; each benchmark runs 5 repetitions and reports mean/median/stddev/cv aggregates. Plans are
// prepared once, outside the timed loop; caches are warm. Try --benchmark_format=json, or
// --benchmark_filter=direct-simd to select.
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
        } else {
            rest.push_back(argv[i]);
        }
    }
    if (shapeFiles.empty()) shapeFiles.push_back("Benchmarks/shapes/replknet31b.txt");

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
            benchmark::RegisterBenchmark(name.c_str(), runCase, a, problem, threads, name)
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime()
                ->MinTime(0.05)
                ->Repetitions(5)
                ->ReportAggregatesOnly(true);
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
