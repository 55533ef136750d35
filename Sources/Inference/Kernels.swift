import Foundation
import CKernels

/// Our SIMD convolution kernels (Sources/CKernels): which instruction set they use.
///
/// Chosen once per process from cpuid, capped by `EMOTIOND_KERNELS=none|avx2|avx512`
/// (`none` sends every convolution to OpenBLAS sgemm, the portable path).
public enum Kernels {
    public enum Level: Int32, CaseIterable, Sendable {
        case none = 0, avx2 = 1, avx512 = 2
        public var name: String { String(cString: emo_kernels_level_name(rawValue)) }
    }

    /// What this CPU supports, regardless of the environment.
    public static let supported = Level(rawValue: emo_kernels_cpu_level()) ?? .none
    static let detected = Level(rawValue: emo_kernels_level()) ?? .none
    /// Set by tests and benchmarks to compare paths within one process (capped by `supported`).
    nonisolated(unsafe) public static var forced: Level?

    /// Winograd F(2×2,3×3) for eligible 3×3 convolutions (`EMOTIOND_WINOGRAD=0` turns it off).
    nonisolated(unsafe) public static var winograd: Bool = ProcessInfo.processInfo.environment["EMOTIOND_WINOGRAD"] != "0"

    public static var active: Level {
        guard let f = forced else { return detected }
        return f.rawValue <= supported.rawValue ? f : supported
    }
}
