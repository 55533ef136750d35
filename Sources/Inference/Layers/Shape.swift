/// Layout-only operators: Flatten, Reshape, Identity, Dropout (inference: identity).
final class ReshapeLayer: Layer {
    enum Kind { case flatten(axis: Int), reshape(target: [Int], allowZero: Bool), identity }
    let name: String
    let kind: Kind

    init(_ ctx: NodeContext) throws {
        name = ctx.name
        try ctx.requireInputs(1)
        switch ctx.op {
        case "Flatten": kind = .flatten(axis: try ctx.int("axis", default: 1))
        case "Reshape":
            if let s = try ctx.ints("shape") { // opset < 5 attribute form
                kind = .reshape(target: s, allowZero: false)
            } else {
                let c = try ctx.constant(1)
                guard let ints = c.ints, c.shape.count == 1 else { throw ctx.shapeError("Reshape shape must be a 1-D int64 constant") }
                var t: [Int] = []
                for v in ints {
                    guard let i = Int(exactly: v), i >= -1 else { throw ctx.shapeError("invalid target dim \(v)") }
                    t.append(i)
                }
                kind = .reshape(target: t, allowZero: try ctx.int("allowzero", default: 0) != 0)
            }
        case "Identity", "Dropout":
            if ctx.op == "Dropout" && ctx.outputs.count > 1 && !ctx.outputs[1].isEmpty {
                throw InferenceError.unsupportedAttribute(node: ctx.name, op: "Dropout", detail: "mask output")
            }
            kind = .identity
        default: throw InferenceError.unsupportedOperator(op: ctx.op, node: ctx.name)
        }
    }

    func outputShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        let x = inputs[0]
        let total = x.reduce(1, *)
        switch kind {
        case .identity: return [x]
        case let .flatten(axis):
            let a = axis < 0 ? axis + x.count : axis
            guard a >= 0 && a <= x.count else { throw InferenceError.shapeMismatch(node: name, detail: "Flatten axis \(axis) out of range for \(x)") }
            return [[x[..<a].reduce(1, *), x[a...].reduce(1, *)]]
        case let .reshape(target, allowZero):
            var out = target
            var inferAt: Int? = nil
            for (i, d) in target.enumerated() {
                if d == 0 && !allowZero {
                    guard i < x.count else { throw InferenceError.shapeMismatch(node: name, detail: "0 at position \(i) copies a dim the input \(x) lacks") }
                    out[i] = x[i]
                } else if d == -1 {
                    guard inferAt == nil else { throw InferenceError.shapeMismatch(node: name, detail: "more than one -1 in \(target)") }
                    inferAt = i
                }
            }
            if let k = inferAt {
                var dims = out
                dims.remove(at: k)
                guard let known = ShapeMath.product(dims), known > 0, total % known == 0 else { throw InferenceError.shapeMismatch(node: name, detail: "cannot reshape \(x) to \(target)") }
                out[k] = total / known
            }
            guard ShapeMath.product(out) == total else { throw InferenceError.shapeMismatch(node: name, detail: "cannot reshape \(x) (\(total) elements) to \(target)") }
            return [out]
        }
    }

    func forward(_ inputs: inout [Tensor], outputShapes: [[Int]], options: InferenceOptions) -> [Tensor] {
        [inputs[0].reshaped(outputShapes[0])]
    }
}

/// Concat along an axis.
final class ConcatLayer: Layer {
    let name: String
    let axis: Int
    init(_ ctx: NodeContext) throws {
        name = ctx.name
        try ctx.requireInputs(1)
        guard let a = ctx.attributes["axis"], case let .int(v) = a, let i = Int(exactly: v) else { throw ctx.attrError("axis", "is required") }
        axis = i
    }

    func outputShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        let r = inputs[0].count
        guard r >= 1, let a = ShapeMath.normalizeAxis(axis, rank: r) else { throw InferenceError.shapeMismatch(node: name, detail: "axis \(axis) out of range for rank \(r)") }
        var out = inputs[0]
        for s in inputs.dropFirst() {
            guard s.count == r else { throw InferenceError.shapeMismatch(node: name, detail: "inputs differ in rank: \(inputs)") }
            for i in 0..<r where i != a && s[i] != out[i] { throw InferenceError.shapeMismatch(node: name, detail: "inputs differ off the concat axis: \(inputs)") }
            out[a] += s[a]
        }
        return [out]
    }

    func forward(_ inputs: inout [Tensor], outputShapes: [[Int]], options: InferenceOptions) -> [Tensor] {
        let shape = outputShapes[0]
        let a = ShapeMath.normalizeAxis(axis, rank: shape.count)!
        let outer = shape[..<a].reduce(1, *)
        let innerOut = shape[a...].reduce(1, *)
        var y = Tensor(uninitialized: shape)
        y.data.withUnsafeMutableBufferPointer { yp in
            var offset = 0
            for t in inputs {
                let inner = t.shape[a...].reduce(1, *)
                t.data.withUnsafeBufferPointer { tp in
                    for o in 0..<outer {
                        (yp.baseAddress! + o * innerOut + offset).update(from: tp.baseAddress! + o * inner, count: inner)
                    }
                }
                offset += inner
            }
        }
        return [y]
    }
}
