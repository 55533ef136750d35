// swift-tools-version:5.10
import PackageDescription

// OpenCV: link only the libraries we use (pkg-config opencv4 pulls ~55 libs and
// doubles start-up time), include path set by hand for the same reason.
// highgui (Qt5, OpenGL: 12 more libraries, ~7.4 MiB resident) lives in its own shared
// library, loaded with dlopen by `emotiond live` only.
let openCVLibs = ["opencv_core", "opencv_imgproc", "opencv_imgcodecs",
                  "opencv_objdetect", "opencv_videoio"]

let package = Package(
    name: "emotiond",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "emotiond", targets: ["emotiond"]),
        .library(name: "Inference", targets: ["Inference"]),
        // The OpenCV window, dlopen'ed by `emotiond live` (see Sources/CVWindow/include/cvwindow.h).
        .library(name: "EmotiondWindow", type: .dynamic, targets: ["CVWindow"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // 1.8: LogHandler.log(event:).
        .package(url: "https://github.com/apple/swift-log", from: "1.8.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),  // descriptor API (Sinks/Metrics.swift)
        // The HTTP server (web page, API, /metrics): SwiftNIO's HTTP/1.1 pipeline.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        // The event history (SQLite, system libsqlite3).
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // Pure-Swift value types shared by every module.
        .target(name: "EmotionCore"),

        // The one configuration model: every setting's default and allowed range, handed as is to
        // the component it configures. A leaf: the YAML reader and the CLI both fill it.
        .target(name: "Settings"),

        // C shim over OpenBLAS (cblas + openblas_* introspection) and CPU feature detection.
        .target(
            name: "CBLASShim",
            linkerSettings: [.linkedLibrary("openblas")]
        ),

        // SIMD convolution GEMM kernels (AVX-512 / AVX2, chosen at run time); C for per-function
        // target attributes, which Swift lacks.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),

        // Swift code generated once from onnx.proto (tools/gen-onnx-proto.sh), committed.
        .target(
            name: "ONNXProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),

        // The CNN inference engine. No OpenCV dependency by design.
        .target(
            name: "Inference",
            dependencies: ["CBLASShim", "CKernels", "ONNXProto", "EmotionCore"]
        ),

        // extern "C" shim over OpenCV; every C++ exception is caught at the boundary.
        .target(
            name: "CVBridge",
            cxxSettings: [.unsafeFlags(["-I/usr/include/opencv4", "-std=c++17"])],
            linkerSettings: openCVLibs.map { .linkedLibrary($0) }
        ),

        // The highgui window as a separate shared library; nothing links it.
        .target(
            name: "CVWindow",
            cxxSettings: [.unsafeFlags(["-I/usr/include/opencv4", "-std=c++17"])],
            linkerSettings: ["opencv_core", "opencv_highgui"].map { .linkedLibrary($0) }
        ),

        // zlib line reader (FER2013 CSVs are distributed gzipped).
        .target(name: "CZlib", linkerSettings: [.linkedLibrary("z")]),

        // V4L2 macros and a non-variadic ioctl for Swift.
        .target(name: "CV4L2"),

        // The frame path, module by module (swift-nio's NIOCore/NIOPosix split: the pieces that
        // handle images do not depend on the code that produces them):
        //   Capture (frames in) → Detection (faces) → Pipeline (crops, emotions, tracks) → Sinks (out),
        // with Imaging under all four as the one OpenCV image layer.

        // Imaging: the OpenCV glue every frame consumer shares: CVError/cvCall, borrowed bridge
        // views of a Frame (colour or its gray plane), gray-plane production, resize, face crops,
        // camera pixel conversions, OpenCV's thread pool. No frame sources.
        .target(name: "Imaging", dependencies: ["EmotionCore", "CVBridge"]),

        // Capture: frame producers only: still images (imgcodecs), video files (videoio), V4L2
        // cameras. Each frame leaves with its gray plane made once (Imaging).
        .target(name: "Capture", dependencies: ["EmotionCore", "Settings", "Imaging", "CVBridge", "CV4L2"]),

        // Detection: the cascade face detector (Haar / LBP), on a frame's gray plane.
        .target(name: "Detection", dependencies: ["EmotionCore", "Settings", "Imaging", "CVBridge"]),

        // System libraries used by the daemon.
        .systemLibrary(name: "CMosquitto", path: "Sources/CMosquitto"),
        .systemLibrary(name: "CSystemd", path: "Sources/CSystemd"),

        // Sinks: outputs, each a FrameSink fed by one dispatcher: NDJSON log (plain and rotating),
        // events, CSV, annotated video, summary, timeline plot, MQTT, metrics, snapshots; and
        // sd_notify. Drawing and encoding go to CVBridge directly.
        .target(name: "Sinks", dependencies: ["EmotionCore", "Settings", "Imaging", "CVBridge", "CMosquitto", "CSystemd",
                                             .product(name: "Prometheus", package: "swift-prometheus"),
                                             .product(name: "Logging", package: "swift-log")]),

        // Web: the one HTTP server (SwiftNIO): /metrics, the JSON API, MJPEG and SSE streams, the
        // static web page. Fed by sinks on the frame stream; does no per-frame work without a client.
        // History: track events kept in SQLite (GRDB) for GET /api/events; a sink on the frame stream.
        .target(name: "History", dependencies: ["EmotionCore", "Sinks", .product(name: "GRDB", package: "GRDB.swift")]),

        .target(name: "Web", dependencies: ["EmotionCore", "Settings", "Sinks", "Imaging", "CVBridge", "History",
                                           .product(name: "NIOCore", package: "swift-nio"),
                                           .product(name: "NIOPosix", package: "swift-nio"),
                                           .product(name: "NIOHTTP1", package: "swift-nio"),
                                           .product(name: "Logging", package: "swift-log")]),

        // Pipeline: the frame loop's pieces: detection scheduling, face crops (Imaging), emotion
        // classification, tracking.
        .target(name: "Pipeline", dependencies: ["EmotionCore", "Settings", "Inference", "Imaging", "Detection", "CZlib"]),

        // The YAML configuration file: schema, validation with file/key/line errors, start checks.
        .target(name: "Config", dependencies: ["EmotionCore", "Settings", "Capture", "Detection", "Pipeline", .product(name: "Yams", package: "Yams")]),

        .executableTarget(
            name: "emotiond",
            dependencies: [
                "EmotionCore", "Settings", "Inference", "Imaging", "Capture", "Detection", "Pipeline", "Sinks", "Config", "Web", "History",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .testTarget(name: "DetectionTests", dependencies: ["Detection", "Settings", "Capture", "EmotionCore"]),
        // Gray planes (camera formats, files), bridge views, crops: the same pixels as the colour path.
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "Capture", "EmotionCore"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Settings", "Detection", "EmotionCore"]),
        .testTarget(name: "SinksTests", dependencies: ["Sinks", "Settings", "Capture", "EmotionCore"]),
        // The configuration reader in-process: defaults, ranges, collected errors, limits, fuzzing.
        // Optimised: the fuzzer's mutations of megabyte inputs are too slow unoptimised.
        .testTarget(name: "ConfigTests", dependencies: ["Config", "Settings", .product(name: "Yams", package: "Yams")],
                    swiftSettings: [.unsafeFlags(["-O"])]),

        // The event history in-process: retention by size, report timelines.
        .testTarget(name: "HistoryTests", dependencies: ["History", "EmotionCore", .product(name: "GRDB", package: "GRDB.swift")]),

        // The web server's routing by camera name, on NIO's EmbeddedChannel (no sockets).
        .testTarget(name: "WebRoutingTests", dependencies: ["Web", "EmotionCore",
                                                             .product(name: "NIOCore", package: "swift-nio"),
                                                             .product(name: "NIOEmbedded", package: "swift-nio"),
                                                             .product(name: "NIOHTTP1", package: "swift-nio")]),

        // End-to-end tests of the built binary on real media.
        .testTarget(name: "EmotiondTests"),

        .testTarget(
            name: "InferenceTests",
            dependencies: ["Inference", "ONNXProto", "EmotionCore"]
        ),
    ]
)
