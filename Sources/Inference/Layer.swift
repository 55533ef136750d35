/// One operator instance of a loaded graph (ncnn style: one file per layer kind).
///
/// Layers are built once at load from their node (attributes, constant inputs),
/// report output shapes for given input shapes (the single source of truth for
/// shapes: the loader calls it at load and for every new batch size, so kernels
/// can trust the shapes they are handed), and run their kernel — the path the call's
/// options allow (layers with one path ignore them).
protocol Layer: AnyObject {
    var name: String { get }
    func outputShapes(_ inputs: [[Int]]) throws -> [[Int]]
    func forward(_ inputs: inout [Tensor], outputShapes: [[Int]], options: InferenceOptions) -> [Tensor]
    /// Multiply-accumulates for one run at these shapes (0 for non-arithmetic layers).
    func macs(inputs: [[Int]], outputs: [[Int]]) -> Int
}

/// Activation fused into the producer's output loop (Conv, Gemm, BN).
enum FusedActivation: Equatable {
    case none
    case relu
    case leakyRelu(Float)
    case clip(Float, Float)

    @inline(__always)
    func apply(_ v: Float) -> Float {
        switch self {
        case .none: return v
        case .relu: return v > 0 ? v : 0
        case let .leakyRelu(a): return v >= 0 ? v : v * a
        case let .clip(lo, hi): return min(max(v, lo), hi)
        }
    }

    /// Applies in place over a buffer (one switch, then a tight loop).
    func apply(_ p: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .none: return
        case .relu: for i in 0..<count where p[i] < 0 { p[i] = 0 }
        case let .leakyRelu(a): for i in 0..<count where p[i] < 0 { p[i] *= a }
        case let .clip(lo, hi): for i in 0..<count { p[i] = min(max(p[i], lo), hi) }
        }
    }
}

/// A constant tensor (initializer or Constant node) as read from the model.
struct ConstTensor {
    var shape: [Int]
    var floats: [Float]
    /// Exact integer values where the source was an integer tensor (shapes, pads, axes).
    var ints: [Int64]?

    var asTensor: Tensor { Tensor(shape: shape, data: floats) }
}

/// What a layer builder can see of its node.
struct NodeContext {
    let name: String
    let op: String
    let opset: Int
    let inputs: [String]
    let outputs: [String]
    let attributes: [String: AttributeValue]
    let constants: [String: ConstTensor]

    enum AttributeValue {
        case int(Int64), float(Float), string(String), ints([Int64]), floats([Float]), tensor(ConstTensor)
    }

    func int(_ key: String, default d: Int) throws -> Int {
        guard let a = attributes[key] else { return d }
        guard case let .int(v) = a, let i = Int(exactly: v) else { throw attrError(key, "must be an integer") }
        return i
    }
    func float(_ key: String, default d: Float) throws -> Float {
        guard let a = attributes[key] else { return d }
        switch a {
        case let .float(v): return v
        case let .int(v): return Float(v)
        default: throw attrError(key, "must be a float")
        }
    }
    func string(_ key: String, default d: String) throws -> String {
        guard let a = attributes[key] else { return d }
        guard case let .string(v) = a else { throw attrError(key, "must be a string") }
        return v
    }
    func ints(_ key: String) throws -> [Int]? {
        guard let a = attributes[key] else { return nil }
        guard case let .ints(v) = a else { throw attrError(key, "must be a list of integers") }
        var out: [Int] = []
        for x in v {
            guard let i = Int(exactly: x), abs(i) < 1 << 31 else { throw attrError(key, "value \(x) out of range") }
            out.append(i)
        }
        return out
    }
    func attrError(_ key: String, _ msg: String) -> InferenceError {
        .unsupportedAttribute(node: name, op: op, detail: "attribute \(key): \(msg)")
    }

    /// Input #i if present and non-empty (ONNX marks skipped optional inputs with "").
    func input(_ i: Int) -> String? { i < inputs.count && !inputs[i].isEmpty ? inputs[i] : nil }

    /// Constant input #i, required.
    func constant(_ i: Int) throws -> ConstTensor {
        guard let n = input(i) else { throw InferenceError.missingInput(node: name, index: i) }
        guard let c = constants[n] else { throw InferenceError.missingInitializer(node: name, input: n) }
        return c
    }
    /// Constant input #i if the input is given; throws if given but not constant.
    func optionalConstant(_ i: Int) throws -> ConstTensor? {
        guard input(i) != nil else { return nil }
        return try constant(i)
    }

    func shapeError(_ detail: String) -> InferenceError { .shapeMismatch(node: name, detail: detail) }
    func requireInputs(_ n: Int) throws {
        for i in 0..<n where input(i) == nil { throw InferenceError.missingInput(node: name, index: i) }
    }
}

extension Array where Element == Tensor {
    /// Moves element i out (leaving an empty tensor) so the caller holds the only
    /// reference and can mutate it in place without a copy-on-write copy.
    @inline(__always)
    mutating func take(_ i: Int) -> Tensor {
        let t = self[i]
        self[i] = Tensor.empty
        return t
    }
}

extension Tensor {
    static let empty = Tensor(shape: [0], data: [])
}

extension Layer {
    /// Multiply-accumulates for one run at these shapes (0 for non-arithmetic layers).
    func macs(inputs: [[Int]], outputs: [[Int]]) -> Int { 0 }
}

/// Hard bounds that keep kernels' loops and scratch buffers sane on hostile models.
enum LayerLimits {
    /// Largest kernel, stride, dilation or pad along one axis.
    static let maxWindow = 4096
    /// Largest scratch buffer (floats) a layer may allocate; also keeps BLAS dims in Int32.
    static let maxWorkspace = 1 << 30
    /// Largest padded plane (floats) the depthwise / max-pool kernels copy a plane into (64 MiB).
    /// Real nets need < 0.1 Mi; a hostile geometry (huge pads or strides over a long row) would
    /// ask for far more, so it runs on the reference loop, which needs no scratch.
    static let maxPaddedPlane = 1 << 24
}
