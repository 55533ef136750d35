/// BatchNormalization (inference form) on axis 1: y = x·scale + shift per channel.
/// Folded into a preceding Conv at load where possible; this layer handles the rest.
final class BatchNormLayer: Layer {
    let name: String
    let scale: [Float], shift: [Float]
    var activation: FusedActivation = .none

    init(_ ctx: NodeContext) throws {
        name = ctx.name
        try ctx.requireInputs(5)
        let gamma = try ctx.constant(1).floats, beta = try ctx.constant(2).floats
        let mean = try ctx.constant(3).floats, variance = try ctx.constant(4).floats
        let c = gamma.count
        guard beta.count == c, mean.count == c, variance.count == c else {
            throw ctx.shapeError("scale/B/mean/var must have the same length")
        }
        if ctx.outputs.count > 1 && ctx.outputs[1...].contains(where: { !$0.isEmpty }) {
            throw InferenceError.unsupportedAttribute(node: ctx.name, op: "BatchNormalization", detail: "training mode outputs")
        }
        let eps = try ctx.float("epsilon", default: 1e-5)
        var sc = [Float](repeating: 0, count: c), sh = sc
        for i in 0..<c {
            sc[i] = gamma[i] / (variance[i] + eps).squareRoot()
            sh[i] = beta[i] - mean[i] * sc[i]
        }
        scale = sc; shift = sh
    }

    func outputShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        let x = inputs[0]
        guard x.count >= 2, x[1] == scale.count else {
            throw InferenceError.shapeMismatch(node: name, detail: "input \(x) has not \(scale.count) channels on axis 1")
        }
        return [x]
    }

    func forward(_ inputs: inout [Tensor], outputShapes: [[Int]], options: InferenceOptions) -> [Tensor] {
        var y = inputs.take(0)
        let n = y.shape[0], c = y.shape[1]
        let inner = y.shape.dropFirst(2).reduce(1, *)
        y.data.withUnsafeMutableBufferPointer { p in
            for i in 0..<n {
                for ch in 0..<c {
                    let base = p.baseAddress! + (i * c + ch) * inner
                    let s = scale[ch], b = shift[ch]
                    for j in 0..<inner { base[j] = base[j] * s + b }
                    activation.apply(base, count: inner)
                }
            }
        }
        return [y]
    }
}
