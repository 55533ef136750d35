import Foundation
import XCTest
@testable import Inference

/// The option sets path tests run, chosen per call (no process state is flipped).
enum PathSets {
    /// SIMD levels this CPU can run.
    static var simdLevels: [Kernels.Level] {
        Kernels.Level.allCases.filter { $0 != .none && $0.rawValue <= Kernels.supported.rawValue }
    }

    /// Every fast path set: OpenBLAS without SIMD kernels, then each SIMD level with and without
    /// Winograd, and on AVX-512 also with Winograd kept to F(2×2).
    static var fast: [InferenceOptions] {
        [InferenceOptions(kernels: .none, winograd: false)]
            + simdLevels.flatMap { l in
                [InferenceOptions(kernels: l, winograd: true), InferenceOptions(kernels: l, winograd: false)]
                    + (l == .avx512 ? [InferenceOptions(kernels: l, winograd: true, winogradF4: false)] : [])
            }
    }

    /// The plain reference first, then `fast`, each with its own trace of the paths it took.
    static func traced() -> [InferenceOptions] {
        ([InferenceOptions.reference] + fast).map { o in
            var o = o
            o.trace = PathTrace()
            return o
        }
    }

    /// Path labels a traced run recorded ("Conv winograd avx512", "MaxPool plain", ...).
    static func labels(_ o: InferenceOptions) -> Set<String> { Set(o.trace.map { Array($0.recorded.keys) } ?? []) }

    /// Why the paths `o` recorded do not fit `o` (nil when they do): no other SIMD level, no Winograd
    /// or OpenBLAS when turned off, and its own SIMD level somewhere when it has one.
    static func mismatch(_ o: InferenceOptions) -> String? {
        let l = labels(o)
        if l.isEmpty { return "no path recorded" }
        for other in simdLevels where other != o.kernels {
            if let bad = l.first(where: { $0.contains(other.name) }) { return "took \(bad)" }
        }
        if !o.useWinograd, let bad = l.first(where: { $0.contains("winograd") }) { return "took \(bad)" }
        if !o.useWinogradF4, let bad = l.first(where: { $0.contains("winograd-f4") }) { return "took \(bad)" }
        if !o.blas, let bad = l.first(where: { $0.contains("blas") }) { return "took \(bad)" }
        if o.kernels != .none && !l.contains(where: { $0.contains(o.kernels.name) }) {
            return "no \(o.kernels.name) path in \(l)"
        }
        return nil
    }
}

/// How close a fast path must be to the reference: per element
/// |y − ref| ≤ 1e-4 · max(1, max |ref|), i.e. 1e-4 relative to the output's scale (absolute
/// below 1). Paths differ only in summation order (and Winograd's transforms), a few float
/// ulps of the sums; a wrong index, weight, pad or activation is off by a sizeable part of it.
enum Agreement {
    static let tolerance: Float = 1e-4

    /// Largest |y − ref| over the output's scale; infinity when shapes differ or a value is NaN.
    static func error(_ y: Tensor, _ ref: Tensor) -> Float {
        guard y.shape == ref.shape else { return .infinity }
        let scale = max(1, ref.data.reduce(0) { max($0, abs($1)) })
        var worst: Float = 0
        for (a, r) in zip(y.data, ref.data) {
            let d = abs(a - r)
            if !(d <= worst) { worst = d.isNaN ? .infinity : d }
        }
        return worst / scale
    }
}

/// The seeded generator of the random tests (same sequence on every run and machine).
struct Rng {
    var s: UInt64
    mutating func next(_ n: Int) -> Int { s = s &* 6364136223846793005 &+ 1442695040888963407; return Int(s >> 33) % n }
    mutating func float() -> Float { Float(next(2001) - 1000) / 500 }
    mutating func pick<T>(_ xs: [T]) -> T { xs[next(xs.count)] }

    mutating func tensor(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in float() })
    }
}

/// Runs `model` on `x` with every set in `sets` (the reference first) and fails when a set's
/// output is not within `Agreement.tolerance` of the reference's. Returns the largest error seen.
@discardableResult
func compareToReference(_ model: Model, _ x: Tensor, _ sets: [InferenceOptions], _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) throws -> Float {
    let ref = try model.run(x, options: sets[0])
    var worst: Float = 0
    for o in sets.dropFirst() {
        let e = Agreement.error(try model.run(x, options: o), ref)
        XCTAssertLessThanOrEqual(e, Agreement.tolerance, "\(what) [\(o)]: |fast − reference| / scale = \(e)",
                                 file: file, line: line)
        worst = max(worst, e)
    }
    return worst
}

/// The options themselves: built from the environment once, capped by the CPU, passed per call.
final class InferenceOptionsTests: XCTestCase {
    func testDefaultIsReadFromTheEnvironment() {
        let env = ProcessInfo.processInfo.environment
        XCTAssertEqual(InferenceOptions.default.kernels, Kernels.detected)
        XCTAssertEqual(InferenceOptions.default.winograd, env["EMOTIOND_WINOGRAD"] != "0")
        XCTAssertEqual(InferenceOptions.default.winogradF4, !["0", "2"].contains(env["EMOTIOND_WINOGRAD"]))
        XCTAssertTrue(InferenceOptions.default.blas)
        if env["EMOTIOND_KERNELS"] == nil { XCTAssertEqual(InferenceOptions.default.kernels, Kernels.supported) }
    }

    func testLevelIsCappedByTheCPU() {
        var o = InferenceOptions(kernels: .avx512)
        XCTAssertEqual(o.kernels, Kernels.Level.avx512.capped)
        XCTAssertLessThanOrEqual(o.kernels.rawValue, Kernels.supported.rawValue)
        o.kernels = .none
        XCTAssertEqual(o.kernels, .none)
        o.kernels = .avx512
        XCTAssertLessThanOrEqual(o.kernels.rawValue, Kernels.supported.rawValue)
    }

    func testTraceIsNotPartOfEquality() {
        var a = InferenceOptions.reference
        a.trace = PathTrace()
        XCTAssertEqual(a, .reference)
        XCTAssertNotEqual(InferenceOptions(kernels: .none, winograd: false), .reference)
    }

    /// Concurrent calls on one model with different options each take their own paths and give
    /// exactly what the same options give alone: nothing is process-wide.
    func testConcurrentCallsTakeTheirOwnPaths() throws {
        let model = try ONNXLoader.load(data: try ModelBuilder.tinyCNN().data())
        var rng = Rng(s: 5)
        let x = rng.tensor([2, 1, 12, 12])
        let sets = PathSets.traced()
        let alone = try sets.map { try model.run(x, options: $0).data }
        let lock = NSLock()
        var failures: [String] = []
        DispatchQueue.concurrentPerform(iterations: 4 * sets.count) { i in
            let o = sets[i % sets.count]
            let same = (try? model.run(x, options: o).data) == alone[i % sets.count]
            if !same { lock.lock(); failures.append("\(o)"); lock.unlock() }
        }
        XCTAssertEqual(failures, [])
        for o in sets { XCTAssertNil(PathSets.mismatch(o), "\(o)") }
    }
}

/// The shared scratch: the first free slot is leased (one buffer reused from layer to layer), a
/// busy pool hands out private blocks, and a slot grows to the largest request and is reused.
final class ScratchPoolTests: XCTestCase {
    func testSlotsAreReusedAndABusyPoolAllocates() {
        let pool = ScratchPool(slots: 2)
        let a = pool.lease(100), b = pool.lease(10), c = pool.lease(10)
        XCTAssertNotNil(a.slot); XCTAssertNotNil(b.slot); XCTAssertNil(c.slot)
        XCTAssertFalse(a.slot === b.slot)
        c.pointer.initialize(repeating: 1, count: 10)   // a private block is writable
        pool.giveBack(c); pool.giveBack(b)
        let again = pool.lease(10)
        XCTAssertTrue(again.slot === b.slot)
        XCTAssertEqual(again.pointer, b.pointer)        // same buffer: no reallocation
        pool.giveBack(again)
        let bigger = pool.lease(1000)
        XCTAssertTrue(bigger.slot === b.slot)           // a's slot is still held
        bigger.pointer.initialize(repeating: 2, count: 1000)
        pool.giveBack(bigger); pool.giveBack(a)
        let last = pool.lease(1)
        XCTAssertTrue(last.slot === a.slot)
        pool.giveBack(last)
    }
}
