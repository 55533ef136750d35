import Foundation
import CKernels

/// Our SIMD convolution kernels (Sources/CKernels): which instruction set they use.
///
/// A run picks its level through `InferenceOptions.kernels`; the default comes from cpuid,
/// capped by `EMOTIOND_KERNELS=none|avx2|avx512` (`none` sends every convolution to
/// OpenBLAS sgemm, the portable path).
public enum Kernels {
    public enum Level: Int32, CaseIterable, Sendable {
        case none = 0, avx2 = 1, avx512 = 2
        public var name: String { String(cString: emo_kernels_level_name(rawValue)) }
    }

    /// What this CPU supports, regardless of the environment.
    public static let supported = Level(rawValue: emo_kernels_cpu_level()) ?? .none
    /// What this CPU supports capped by `EMOTIOND_KERNELS`: `InferenceOptions.default.kernels`.
    static let detected = Level(rawValue: emo_kernels_level()) ?? .none
}
