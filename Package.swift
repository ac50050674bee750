// swift-tools-version: 6.0
// The LDM engine: latent distribution matching kernels on a CPU backend and an OpenCL backend.
import PackageDescription

let package = Package(
    name: "ldm",
    products: [
        .library(name: "LDMEngine", targets: ["LDMEngine", "LDMCPU", "LDMOpenCL", "LDMReference", "LDMObjectives",
                                              "LDMData", "LDMMetrics", "LDMTraining", "LDMParallel"]),
        .executable(name: "ldm", targets: ["ldm"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries from Debian: the OpenCL ICD loader + CLBlast, and OpenBLAS.
        .systemLibrary(name: "COpenCL", path: "Sources/COpenCL"),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        // zlib (Debian's zlib1g-dev), for the gzipped IDX files of Fashion-MNIST and MNIST.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // Open MPI, loaded at run time by a small C shim (so a plain run links and needs no MPI library).
        .target(name: "CLDMMPI", path: "Sources/CLDMMPI"),
        // Small C helpers the CPU backend needs: CPU features, OpenBLAS kernel choice, the FMA peak loop.
        .target(name: "CLDMSupport", dependencies: ["CBLAS"], path: "Sources/CLDMSupport"),

        // Tensors, the Backend protocol, shapes and errors. No OpenCL here.
        .target(name: "LDMEngine", path: "Sources/LDMEngine"),
        // Plain Double reference implementations: the meaning of every kernel.
        .target(name: "LDMReference", dependencies: ["LDMEngine"], path: "Sources/LDMReference"),
        // The Kernels/*.cl sources, embedded at build time by the EmbedKernels plugin.
        .executableTarget(name: "KernelEmbedder", path: "Sources/KernelEmbedder"),
        .plugin(name: "EmbedKernels", capability: .buildTool(), dependencies: ["KernelEmbedder"],
                path: "Sources/EmbedKernelsPlugin"),
        .target(name: "LDMKernelSources", path: "Sources/LDMKernelSources", plugins: ["EmbedKernels"]),

        .target(name: "LDMCPU", dependencies: ["LDMEngine", "CBLAS", "CLDMSupport"], path: "Sources/LDMCPU"),
        .target(name: "LDMOpenCL", dependencies: ["LDMEngine", "COpenCL", "LDMKernelSources"],
                path: "Sources/LDMOpenCL"),

        // LDM objectives (alignment + entropy estimators, presets) composed from the backend's kernels.
        .target(name: "LDMObjectives", dependencies: ["LDMEngine", "LDMParallel"], path: "Sources/LDMObjectives"),

        // The data sets: those the engine generates itself (dot-motion videos, Ornstein–Uhlenbeck mixtures, two-view
        // vectors) and the image sets it reads (IDX files, gzipped through zlib, or .npy).
        .target(name: "LDMData", dependencies: ["LDMReference", "CZlib"], path: "Sources/LDMData"),
        // Evaluation metrics on host arrays: the ridge probe, MCC, linear CKA, clustering accuracy (`ldm metrics`).
        .target(name: "LDMMetrics", dependencies: ["LDMEngine", "CBLAS"], path: "Sources/LDMMetrics"),
        // Data-parallel runs: the communicator (Open MPI or one process) and collectives on device tensors.
        .target(name: "LDMParallel", dependencies: ["LDMEngine", "CLDMMPI"], path: "Sources/LDMParallel"),
        // Training: modules, optimisers, the training loop and its tasks, checkpoints, reports (`ldm train`).
        .target(name: "LDMTraining", dependencies: ["LDMEngine", "LDMReference", "LDMObjectives", "LDMData", "LDMMetrics",
                                                   "LDMParallel"],
                path: "Sources/LDMTraining"),

        // Per-kernel micro-benchmarks (validate, warm up, time), shared by `ldm bench`.
        .target(name: "LDMBenchmarks", dependencies: ["LDMEngine", "LDMReference", "LDMCPU", "LDMOpenCL", "LDMObjectives",
                                                      "LDMData", "LDMTraining", "CLDMSupport"],
                path: "Benchmarks/LDMBenchmarks"),

        .executableTarget(name: "ldm", dependencies: [
            "LDMEngine", "LDMCPU", "LDMOpenCL", "LDMBenchmarks", "LDMObjectives", "LDMData", "LDMMetrics", "LDMTraining",
            "LDMParallel",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/ldm"),

        .testTarget(name: "LDMEngineTests", dependencies: ["LDMEngine", "LDMReference", "LDMCPU"],
                    path: "Tests/LDMEngineTests"),
        .testTarget(name: "BackendParityTests",
                    dependencies: ["LDMEngine", "LDMReference", "LDMCPU", "LDMOpenCL", "LDMKernelSources", "LDMObjectives",
                                   "LDMData", "LDMMetrics", "LDMTraining", "LDMParallel"],
                    path: "Tests/BackendParityTests"),
    ]
)
