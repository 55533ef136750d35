import ArgumentParser
import Capture
import Foundation
import Inference

enum BLASRuntime {
    /// Instruction-set class of an OpenBLAS kernel name (its DYNAMIC_ARCH core names).
    static func tier(_ core: String) -> Int {
        switch core.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 3
        case "haswell", "zen": return 2
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": return 1
        default: return 0
        }
    }

    /// Whether the kernels OpenBLAS chose itself are of `best`'s class (e.g. Cooperlake for SkylakeX).
    static func ownChoiceMatches(_ best: String) -> Bool { tier(BLAS.coreName) >= tier(best) }

    static func reexecWithBestCoreTypeIfNeeded() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env["EMOTIOND_NO_REEXEC"] == nil,
              let best = BLAS.recommendedCoreType else { return }
        // OpenBLAS is already loaded: when its own detection found kernels of the same class (e.g.
        // Cooperlake on an AVX-512 CPU), a second start buys nothing and costs ~200 ms (the whole
        // dynamic link again: `emotiond image` 0.47–0.51 s with the re-exec, 0.26–0.28 s without).
        if ownChoiceMatches(best) { return }
        setenv("OPENBLAS_CORETYPE", best, 1)
        setenv("EMOTIOND_BLAS_AUTO", "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv only returns on failure: carry on with the kernels already loaded.
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// Human-readable account of the BLAS choice, for --version and benchmarks.
    static var summary: String {
        let env = ProcessInfo.processInfo.environment
        let how: String
        if let ct = env["OPENBLAS_CORETYPE"] {
            how = env["EMOTIOND_BLAS_AUTO"] == "1" ? "OPENBLAS_CORETYPE=\(ct), auto-selected for this CPU" : "OPENBLAS_CORETYPE=\(ct), from the environment"
        } else if let best = BLAS.recommendedCoreType, ownChoiceMatches(best) {
            how = "OpenBLAS's own CPU detection; same class as \(best), kept without a re-exec"
        } else {
            how = "OpenBLAS's own CPU detection"
        }
        return "OpenBLAS kernels \(BLAS.coreName) (\(how)); \(BLAS.config.trimmingCharacters(in: .whitespaces))"
    }

    /// Our own convolution kernels (EMOTIOND_KERNELS / EMOTIOND_WINOGRAD select them).
    static var kernels: String {
        let o = InferenceOptions.default
        if o.kernels == .none { return "convolutions on OpenBLAS sgemm (SIMD kernels: \(Kernels.supported == .none ? "CPU lacks AVX2+FMA" : "off"))" }
        let f4 = o.winogradF4 && o.kernels == .avx512 ? " and F(4x4,3x3)" : ""
        return "emotiond \(o.kernels.name) GEMM kernels\(o.winograd ? " + Winograd F(2x2,3x3)\(f4)" : "") for convolutions (CPU supports \(Kernels.supported.name))"
    }
}

enum Paths {
    static let defaultModelName = "emotion-fervgg.onnx"

    /// Directories searched for shipped data (models/, cascades/): the working
    /// directory, the repository the binary was built in, and the FHS install prefix.
    static var dataRoots: [String] {
        var roots = [FileManager.default.currentDirectoryPath]
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        // .build/<triple>/<config>/emotiond → repository root
        roots.append(exe.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path)
        roots.append(exe.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("share/emotiond").path)
        roots.append("/usr/local/share/emotiond")
        roots.append("/usr/share/emotiond")
        return roots
    }

    /// Resolves the ensemble's members: the given paths, or the one default model when none.
    static func models(_ explicit: [String]) throws -> [String] {
        explicit.isEmpty ? [try model(nil)] : explicit
    }

    /// Resolves the model: explicit path, $EMOTIOND_MODEL, then models/<default> under each data root.
    static func model(_ explicit: String?) throws -> String {
        if let p = explicit ?? ProcessInfo.processInfo.environment["EMOTIOND_MODEL"] { return p }
        let tried = dataRoots.map { "\($0)/models/\(defaultModelName)" }
        if let found = tried.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        throw RunError("no emotion model found; tried \(tried.joined(separator: ", ")) (use --model PATH)")
    }
}
