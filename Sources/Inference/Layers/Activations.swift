import Foundation

/// Element-wise unary operators: Relu, LeakyRelu, Clip (Relu6), Sigmoid, Tanh.
final class UnaryLayer: Layer {
    enum Kind { case relu, leakyRelu(Float), clip(Float, Float), sigmoid, tanh }
    let name: String
    let kind: Kind

    init(_ ctx: NodeContext) throws {
        name = ctx.name
        try ctx.requireInputs(1)
        switch ctx.op {
        case "Relu": kind = .relu
        case "LeakyRelu": kind = .leakyRelu(try ctx.float("alpha", default: 0.01))
        case "Sigmoid": kind = .sigmoid
        case "Tanh": kind = .tanh
        case "Clip":
            // opset < 11: min/max attributes; opset ≥ 11: optional constant inputs.
            var lo = try ctx.float("min", default: -Float.greatestFiniteMagnitude)
            var hi = try ctx.float("max", default: Float.greatestFiniteMagnitude)
            if let c = try ctx.optionalConstant(1) {
                guard c.floats.count == 1 else { throw ctx.shapeError("Clip min must be a scalar") }
                lo = c.floats[0]
            }
            if let c = try ctx.optionalConstant(2) {
                guard c.floats.count == 1 else { throw ctx.shapeError("Clip max must be a scalar") }
                hi = c.floats[0]
            }
            kind = .clip(lo, hi)
        default: throw InferenceError.unsupportedOperator(op: ctx.op, node: ctx.name)
        }
    }

    /// The same operation as a fused activation, where one exists.
    var fused: FusedActivation? {
        switch kind {
        case .relu: return .relu
        case let .leakyRelu(a): return .leakyRelu(a)
        case let .clip(lo, hi): return .clip(lo, hi)
        default: return nil
        }
    }

    func outputShapes(_ inputs: [[Int]]) throws -> [[Int]] { [inputs[0]] }

    func forward(_ inputs: inout [Tensor], outputShapes: [[Int]], options: InferenceOptions) -> [Tensor] {
        var y = inputs.take(0)
        let n = y.count
        y.data.withUnsafeMutableBufferPointer { bp in
            let p = bp.baseAddress!
            switch kind {
            case .relu: FusedActivation.relu.apply(p, count: n)
            case let .leakyRelu(a): FusedActivation.leakyRelu(a).apply(p, count: n)
            case let .clip(lo, hi): FusedActivation.clip(lo, hi).apply(p, count: n)
            case .sigmoid: for i in 0..<n { p[i] = 1 / (1 + expf(-p[i])) }
            case .tanh: for i in 0..<n { p[i] = tanhf(p[i]) }
            }
        }
        return [y]
    }
}
