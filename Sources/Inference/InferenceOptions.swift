import Foundation

/// Which fast paths a run may take, passed with every call down to every layer's `forward`
/// (ncnn's `Option`). A value, not process state: two runs in one process, even on one model
/// at the same time, can take different paths — that is how the tests compare them.
///
/// Every combination computes the same function; paths differ only in float rounding
/// (summation order, Winograd transforms). What is *not* here: OpenBLAS's thread count
/// (`BLAS.threads`), which OpenBLAS only has process-wide.
public struct InferenceOptions: Sendable, Equatable, CustomStringConvertible {
    /// Our SIMD kernels' instruction set (Sources/CKernels), capped by `Kernels.supported`
    /// so a run never asks the CPU for instructions it lacks. `.none`: no SIMD kernel runs.
    public var kernels: Kernels.Level {
        didSet { kernels = kernels.capped }
    }
    /// Winograd F(2×2,3×3) for eligible 3×3 convolutions (needs a SIMD level).
    public var winograd: Bool
    /// With `winograd`, F(4×4,3×3) where it pays (AVX-512 only); off: F(2×2) alone.
    public var winogradF4: Bool
    /// OpenBLAS sgemm for the GEMMs no SIMD kernel takes: convolutions at level `.none`
    /// (im2col + sgemm), Gemm and MatMul. Off: plain loops, the reference every fast
    /// path is tested against — slow, for tests and for debugging a wrong result.
    public var blas: Bool
    /// Tests only: counts the path each layer took, proving the options reached the layers.
    /// Nil (the default) costs one test per layer call.
    var trace: PathTrace?

    public init(kernels: Kernels.Level, winograd: Bool = true, winogradF4: Bool = true, blas: Bool = true) {
        self.kernels = kernels.capped
        self.winograd = winograd
        self.winogradF4 = winogradF4
        self.blas = blas
    }

    /// What a run uses unless told otherwise, read once from the environment:
    /// `EMOTIOND_KERNELS=none|avx2|avx512` caps the level (parsed by CKernels' env_cap),
    /// `EMOTIOND_WINOGRAD=0` turns Winograd off, `EMOTIOND_WINOGRAD=2` keeps it to F(2×2).
    public static let `default` = InferenceOptions(
        kernels: Kernels.detected,
        winograd: ProcessInfo.processInfo.environment["EMOTIOND_WINOGRAD"] != "0",
        winogradF4: !["0", "2"].contains(ProcessInfo.processInfo.environment["EMOTIOND_WINOGRAD"]))

    /// Plain loops only: no SIMD kernel, no Winograd, no OpenBLAS.
    public static let reference = InferenceOptions(kernels: .none, winograd: false, winogradF4: false, blas: false)

    /// Whether a convolution eligible for Winograd takes it.
    var useWinograd: Bool { winograd && kernels != .none }
    /// Whether one eligible for F(4×4) takes it where it pays.
    var useWinogradF4: Bool { winograd && winogradF4 && kernels == .avx512 }

    /// Same paths (the trace is not part of what a run computes).
    public static func == (a: InferenceOptions, b: InferenceOptions) -> Bool {
        a.kernels == b.kernels && a.winograd == b.winograd && a.winogradF4 == b.winogradF4 && a.blas == b.blas
    }

    public var description: String {
        let wino = useWinogradF4 ? "on" : useWinograd ? "f2" : "off"
        return "kernels=\(kernels.name) winograd=\(wino) blas=\(blas ? "on" : "off")"
    }
}

extension Kernels.Level {
    /// This level, or the highest one the CPU supports if that is lower.
    var capped: Kernels.Level { rawValue <= Kernels.supported.rawValue ? self : Kernels.supported }
}

/// Which paths layers took, by label ("Conv winograd avx512", "MaxPool plain"), with counts.
final class PathTrace: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]

    func record(_ path: String) {
        lock.lock(); defer { lock.unlock() }
        counts[path, default: 0] += 1
    }

    var recorded: [String: Int] {
        lock.lock(); defer { lock.unlock() }
        return counts
    }
}
