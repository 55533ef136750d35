import Foundation

/// Softmax / LogSoftmax. Opset ≥ 13: along one axis (default -1). Opset < 13: the
/// input is coerced to 2-D at `axis` (default 1) and normalised over the flattened tail.
final class SoftmaxLayer: Layer {
    let name: String
    let axis: Int
    let legacy: Bool
    let log: Bool

    init(_ ctx: NodeContext) throws {
        name = ctx.name
        try ctx.requireInputs(1)
        legacy = ctx.opset < 13
        axis = try ctx.int("axis", default: legacy ? 1 : -1)
        log = ctx.op == "LogSoftmax"
    }

    func outputShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        guard inputs[0].count >= 1, ShapeMath.normalizeAxis(axis, rank: inputs[0].count) != nil else {
            throw InferenceError.shapeMismatch(node: name, detail: "axis \(axis) out of range for \(inputs[0])")
        }
        return [inputs[0]]
    }

    func forward(_ inputs: inout [Tensor], outputShapes: [[Int]], options: InferenceOptions) -> [Tensor] {
        var y = inputs.take(0)
        let s = y.shape
        let a = ShapeMath.normalizeAxis(axis, rank: s.count)!
        let outer = s[..<a].reduce(1, *)
        // Legacy: one row per outer index spanning the whole tail. New: stride over the axis.
        let n = legacy ? s[a...].reduce(1, *) : s[a]
        let inner = legacy ? 1 : s[(a + 1)...].reduce(1, *)
        y.data.withUnsafeMutableBufferPointer { p in
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = p.baseAddress! + o * n * inner + i
                    var m = -Float.infinity
                    for j in 0..<n { m = max(m, base[j * inner]) }
                    var sum: Float = 0
                    if log {
                        for j in 0..<n { sum += expf(base[j * inner] - m) }
                        let shift = m + logf(sum)
                        for j in 0..<n { base[j * inner] -= shift }
                    } else {
                        for j in 0..<n { let e = expf(base[j * inner] - m); base[j * inner] = e; sum += e }
                        let inv = 1 / sum
                        for j in 0..<n { base[j * inner] *= inv }
                    }
                }
            }
        }
        return [y]
    }
}
