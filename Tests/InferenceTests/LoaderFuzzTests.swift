import Foundation
import XCTest
@testable import Inference

/// Seeded mutation fuzzing of the loader: 10,000 corrupted variants of valid models
/// (bit flips, byte overwrites, truncation, insertion, chunk duplication). Each must
/// either load and run, or fail with an InferenceError; anything else, or a crash
/// of the test process, is a bug. Deterministic (fixed seed) so failures reproduce;
/// set EMOTIOND_FUZZ_ITERATIONS / EMOTIOND_FUZZ_SEED to fuzz longer or elsewhere.
final class LoaderFuzzTests: XCTestCase {
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E3779B97F4A7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return z ^ (z >> 31)
        }
    }

    static func mutate(_ seed: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var d = seed
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !d.isEmpty else { break }
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: // flip bits
                let i = Int.random(in: 0..<d.count, using: &rng); d[i] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            case 1: // random byte
                d[Int.random(in: 0..<d.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 2: // interesting values (varint extremes, sign bits)
                let i = Int.random(in: 0..<d.count, using: &rng); d[i] = [0x00, 0x7f, 0x80, 0xff, 0x01, 0x3f][Int.random(in: 0..<6, using: &rng)]
            case 3: // truncate
                d = Array(d.prefix(Int.random(in: 0..<d.count, using: &rng)))
            case 4: // insert random bytes
                let i = Int.random(in: 0...d.count, using: &rng)
                d.insert(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: i)
            default: // duplicate a chunk
                let a = Int.random(in: 0..<d.count, using: &rng), n = min(Int.random(in: 1...64, using: &rng), d.count - a)
                d.insert(contentsOf: d[a..<(a + n)], at: Int.random(in: 0...d.count, using: &rng))
            }
        }
        return d
    }

    func testTenThousandCorruptedModels() throws {
        let env = ProcessInfo.processInfo.environment
        let iterations = Int(env["EMOTIOND_FUZZ_ITERATIONS"] ?? "") ?? 10_000
        var rng = SplitMix64(state: UInt64(env["EMOTIOND_FUZZ_SEED"] ?? "") ?? 0xE3071)
        var seeds: [[UInt8]] = [Array(try ModelBuilder.tinyCNN().data())]
        let opzoo = Fixtures.generated.appendingPathComponent("opzoo.onnx")
        seeds.append(Array(try Data(contentsOf: try Fixtures.require(opzoo))))
        var limits = ModelLimits()
        limits.maxTensorElements = 1 << 22
        limits.maxConstantElements = 1 << 23
        var loaded = 0, ran = 0, rejected = 0
        var kinds: [String: Int] = [:]
        for i in 0..<iterations {
            let bytes = Self.mutate(seeds[i % seeds.count], &rng)
            do {
                let m = try ONNXLoader.load(data: Data(bytes), path: "mutant-\(i)", limits: limits)
                loaded += 1
                let shape = m.inputShape(batch: 1)
                if let n = ShapeMath.product(shape), n <= 1 << 20 {
                    do {
                        _ = try m.run(Tensor(shape: shape, data: (0..<n).map { Float($0 % 13) / 13 - 0.5 }))
                        ran += 1
                    } catch is InferenceError { rejected += 1 }
                }
            } catch let e as InferenceError {
                rejected += 1
                kinds[String("\(e)".prefix(while: { $0 != ":" && $0 != "'" })), default: 0] += 1
            } catch {
                XCTFail("mutant \(i): non-InferenceError \(type(of: error)): \(error)")
            }
        }
        print("fuzz: \(iterations) mutants, \(loaded) loaded, \(ran) ran, \(rejected) rejected")
        XCTAssertGreaterThan(rejected, iterations / 10, "mutations should break most models")
        XCTAssertGreaterThan(ran, 0, "some mutants (e.g. changed weights) should still load and run")
    }
}
