import EmotionCore
import Foundation
import ONNXProto
import SwiftProtobuf

/// Reads `.onnx` files (protobuf, via swift-protobuf) into an executable `Model`.
///
/// Every value read from the file is untrusted: sizes are overflow-checked and
/// bounded by `ModelLimits` before anything is allocated, every tensor's data
/// length is checked against its dims, and shapes are inferred for the whole
/// graph at load so kernels never see inconsistent shapes.
public enum ONNXLoader {
    public static let supportedOpsets = 7...21

    public static func load(path: String, limits: ModelLimits = ModelLimits()) throws -> Model {
        try load(data: try read(path: path, limit: limits.maxFileBytes), path: path, limits: limits)
    }

    /// Reads the file, refusing anything but a regular file (a FIFO would block, /dev/zero never
    /// ends) and stopping as soon as it passes `limit` bytes: the size stat reports is not trusted,
    /// the file may grow while it is read.
    static func read(path: String, limit: Int) throws -> Data {
        // O_NONBLOCK: opening a FIFO without a writer would block before fstat could refuse it.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw InferenceError.fileUnreadable(path: path, reason: reason(errno)) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw InferenceError.fileUnreadable(path: path, reason: reason(errno)) }
        if let why = FileKind(mode: st.st_mode).notRegularReason { throw InferenceError.fileUnreadable(path: path, reason: why) }
        guard Int(st.st_size) <= limit else {
            throw InferenceError.tooLarge(what: "model file \(path) (bytes)", elements: Int(st.st_size), limit: limit)
        }
        var data = Data()
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buf.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw InferenceError.fileUnreadable(path: path, reason: reason(errno)) }
            if n == 0 { return data }
            guard data.count + n <= limit else {
                throw InferenceError.tooLarge(what: "model file \(path) (bytes)", elements: data.count + n,
                                              limit: limit)
            }
            data.append(contentsOf: buf[0..<n])
        }
    }

    static func reason(_ e: Int32) -> String {
        switch e {
        case ENOENT: return "no such file"
        case EACCES: return "permission denied"
        default: return String(cString: strerror(e))
        }
    }


    public static func load(data: Data, path: String = "<memory>", limits: ModelLimits = ModelLimits()) throws -> Model {
        guard !data.isEmpty else { throw InferenceError.notONNX(path: path, reason: "file is empty") }
        let proto: Onnx_ModelProto
        do {
            var opts = BinaryDecodingOptions()
            opts.messageDepthLimit = 64
            proto = try Onnx_ModelProto(serializedBytes: data, options: opts)
        } catch let e as BinaryDecodingError {
            let why: String
            switch e {
            case .truncated: why = "truncated protobuf data (the file is cut short)"
            case .malformedProtobuf: why = "malformed protobuf data"
            case .invalidUTF8: why = "invalid UTF-8 in a string field"
            case .messageDepthLimit: why = "nesting too deep"
            default: why = "protobuf decoding failed (\(e))"
            }
            throw InferenceError.notONNX(path: path, reason: why)
        } catch {
            throw InferenceError.notONNX(path: path, reason: "protobuf decoding failed (\(error))")
        }
        guard proto.irVersion > 0, proto.hasGraph else {
            throw InferenceError.notONNX(path: path, reason: "no ir_version or graph (not an ONNX ModelProto)")
        }
        var builder = GraphBuilder(proto: proto, path: path, limits: limits)
        return try builder.build()
    }
}

/// Turns a decoded ModelProto into layers, constants and slots.
private struct GraphBuilder {
    let proto: Onnx_ModelProto
    let path: String
    let limits: ModelLimits

    var constants: [String: ConstTensor] = [:]
    var constantElements = 0
    var slotOf: [String: Int] = [:]
    var slotCount = 0
    var steps: [Model.Step] = []
    /// Producer step of each slot and how many readers each value name has.
    var producerStep: [Int: Int] = [:]
    var readers: [String: Int] = [:]
    var inputSlotIndex = -1

    init(proto: Onnx_ModelProto, path: String, limits: ModelLimits) {
        self.proto = proto; self.path = path; self.limits = limits
    }

    mutating func slot(_ name: String) -> Int {
        if let s = slotOf[name] { return s }
        slotOf[name] = slotCount
        slotCount += 1
        return slotCount - 1
    }

    mutating func build() throws -> Model {
        let graph = proto.graph
        // Opset of the default domain.
        var opset = 0
        for o in proto.opsetImport where o.domain.isEmpty || o.domain == "ai.onnx" { opset = Int(clamping: o.version) }
        guard ONNXLoader.supportedOpsets.contains(opset) else { throw InferenceError.unsupportedOpset(domain: "", version: opset) }

        for t in graph.initializer { try addConstant(t, name: t.name) }
        guard graph.sparseInitializer.isEmpty else { throw InferenceError.badModel(detail: "sparse initializers are not supported") }

        // Runtime inputs: graph inputs that are not initializers.
        let runtimeInputs = graph.input.filter { constants[$0.name] == nil }
        guard runtimeInputs.count == 1 else {
            throw InferenceError.badModel(detail: "model has \(runtimeInputs.count) runtime inputs (\(runtimeInputs.map(\.name))); exactly one image input is supported")
        }
        let input = runtimeInputs[0]
        guard input.type.tensorType.elemType == 1 else {
            throw InferenceError.unsupportedDataType(tensor: input.name, dataType: Int(input.type.tensorType.elemType))
        }
        let dimsProto = input.type.tensorType.shape.dim
        guard !dimsProto.isEmpty, dimsProto.count <= 8 else { throw InferenceError.badModel(detail: "input '\(input.name)' has no usable shape (rank \(dimsProto.count))") }
        var inputDims: [Int?] = []
        for (i, d) in dimsProto.enumerated() {
            if case .dimValue(let v)? = d.value, v > 0 {
                guard v <= Int64(limits.maxTensorElements) else { throw InferenceError.tooLarge(what: "input dim \(i)", elements: Int(clamping: v), limit: limits.maxTensorElements) }
                inputDims.append(Int(v))
            } else {
                guard i == 0 else { throw InferenceError.badModel(detail: "input '\(input.name)' dim \(i) is dynamic; only the batch dim may be") }
                inputDims.append(nil)
            }
        }
        guard let inCount = ShapeMath.product(inputDims.map { $0 ?? 1 }), inCount <= limits.maxTensorElements else {
            throw InferenceError.tooLarge(what: "input '\(input.name)' \(inputDims.map { $0 ?? 1 })", elements: ShapeMath.product(inputDims.map { $0 ?? 1 }) ?? Int.max, limit: limits.maxTensorElements)
        }
        let inputSlot = slot(input.name)
        inputSlotIndex = inputSlot

        // Reader counts (graph outputs count as readers, so they are never fused away).
        for n in graph.node { for i in n.input where !i.isEmpty { readers[i, default: 0] += 1 } }
        for o in graph.output { readers[o.name, default: 0] += 1 }

        for node in graph.node { try addNode(node, opset: opset) }

        guard !graph.output.isEmpty else { throw InferenceError.badModel(detail: "graph declares no outputs") }
        var outputSlots: [Int] = []
        for o in graph.output {
            guard let s = slotOf[o.name], s == inputSlot || producerStep[s] != nil else {
                throw InferenceError.badModel(detail: "graph output '\(o.name)' is not produced by any node")
            }
            outputSlots.append(s)
        }
        for step in steps { (step.layer as? ConvLayer)?.prepare() }
        var constantSlots: [(Int, Tensor)] = []
        var params = 0
        for (name, c) in constants { if let s = slotOf[name] { constantSlots.append((s, c.asTensor)) } }
        for (_, c) in constants where c.ints == nil { params += c.floats.count }
        var props: [String: String] = [:]
        for p in proto.metadataProps { props[p.key] = p.value }
        return try Model(path: path, inputName: input.name, inputDims: inputDims, outputNames: graph.output.map(\.name),
                         metadata: ModelMetadata(props), opsetVersion: opset, producer: proto.producerName,
                         limits: limits, parameterCount: params, steps: steps, slotCount: slotCount,
                         inputSlot: inputSlot, outputSlots: outputSlots, constantSlots: constantSlots)
    }

    // MARK: constants

    mutating func addConstant(_ t: Onnx_TensorProto, name: String) throws {
        guard !name.isEmpty else { throw InferenceError.malformedTensor(tensor: "<unnamed>", detail: "initializer without a name") }
        if t.dataLocation == .external { throw InferenceError.malformedTensor(tensor: name, detail: "external data is not supported") }
        guard t.dims.count <= 8 else { throw InferenceError.malformedTensor(tensor: name, detail: "rank \(t.dims.count) too high") }
        var dims: [Int] = []
        for d in t.dims {
            guard d >= 0, d <= Int64(limits.maxTensorElements) else { throw InferenceError.malformedTensor(tensor: name, detail: "invalid dim \(d)") }
            dims.append(Int(d))
        }
        guard let count = ShapeMath.product(dims), count <= limits.maxTensorElements else {
            throw InferenceError.tooLarge(what: "initializer '\(name)' \(dims)", elements: ShapeMath.product(dims) ?? Int.max, limit: limits.maxTensorElements)
        }
        constantElements += count
        guard constantElements <= limits.maxConstantElements else {
            throw InferenceError.tooLarge(what: "model constants", elements: constantElements, limit: limits.maxConstantElements)
        }
        let raw = t.rawData
        var floats: [Float]
        var ints: [Int64]? = nil
        func checkCount(_ n: Int, _ what: String) throws {
            guard n == count else { throw InferenceError.malformedTensor(tensor: name, detail: "\(what) holds \(n) values for dims \(dims) (\(count) expected)") }
        }
        switch t.dataType {
        case 1: // FLOAT
            if t.hasRawData {
                try checkCount(raw.count / 4, "raw_data"); guard raw.count % 4 == 0 else { throw InferenceError.malformedTensor(tensor: name, detail: "raw_data length \(raw.count) not a multiple of 4") }
                floats = [Float](repeating: 0, count: count)
                floats.withUnsafeMutableBytes { dst in _ = raw.copyBytes(to: dst) }
                for i in 0..<count { floats[i] = Float(bitPattern: UInt32(littleEndian: floats[i].bitPattern)) }
            } else {
                try checkCount(t.floatData.count, "float_data"); floats = t.floatData
            }
        case 11: // DOUBLE
            if t.hasRawData {
                try checkCount(raw.count / 8, "raw_data"); guard raw.count % 8 == 0 else { throw InferenceError.malformedTensor(tensor: name, detail: "raw_data length not a multiple of 8") }
                var d = [Double](repeating: 0, count: count)
                d.withUnsafeMutableBytes { dst in _ = raw.copyBytes(to: dst) }
                floats = d.map { Float($0) }
            } else { try checkCount(t.doubleData.count, "double_data"); floats = t.doubleData.map { Float($0) } }
        case 7, 6: // INT64, INT32
            let width = t.dataType == 7 ? 8 : 4
            var v: [Int64]
            if t.hasRawData {
                try checkCount(raw.count / width, "raw_data"); guard raw.count % width == 0 else { throw InferenceError.malformedTensor(tensor: name, detail: "raw_data length not a multiple of \(width)") }
                if width == 8 {
                    v = [Int64](repeating: 0, count: count)
                    v.withUnsafeMutableBytes { dst in _ = raw.copyBytes(to: dst) }
                } else {
                    var v32 = [Int32](repeating: 0, count: count)
                    v32.withUnsafeMutableBytes { dst in _ = raw.copyBytes(to: dst) }
                    v = v32.map { Int64($0) }
                }
            } else if width == 8 { try checkCount(t.int64Data.count, "int64_data"); v = t.int64Data }
            else { try checkCount(t.int32Data.count, "int32_data"); v = t.int32Data.map { Int64($0) } }
            ints = v
            floats = v.map { Float($0) }
        default:
            throw InferenceError.unsupportedDataType(tensor: name, dataType: Int(t.dataType))
        }
        constants[name] = ConstTensor(shape: dims, floats: floats, ints: ints)
    }

    // MARK: nodes

    func attributes(of node: Onnx_NodeProto, name: String) throws -> [String: NodeContext.AttributeValue] {
        var out: [String: NodeContext.AttributeValue] = [:]
        for a in node.attribute {
            switch a.type {
            case .int: out[a.name] = .int(a.i)
            case .float: out[a.name] = .float(a.f)
            case .string: out[a.name] = .string(String(decoding: a.s, as: UTF8.self))
            case .ints:
                guard a.ints.count <= 64 else { throw InferenceError.unsupportedAttribute(node: name, op: node.opType, detail: "attribute \(a.name) with \(a.ints.count) values") }
                out[a.name] = .ints(a.ints)
            case .floats: out[a.name] = .floats(a.floats)
            case .tensor:
                var b = GraphBuilder(proto: proto, path: path, limits: limits)
                try b.addConstant(a.t, name: "\(name).\(a.name)")
                out[a.name] = .tensor(b.constants["\(name).\(a.name)"]!)
            default:
                // Graph/sparse/type attributes: only legal on ops we do not support anyway.
                break
            }
        }
        return out
    }

    mutating func addNode(_ node: Onnx_NodeProto, opset: Int) throws {
        let name = node.name.isEmpty ? "\(node.opType)#\(steps.count)" : node.name
        guard node.domain.isEmpty || node.domain == "ai.onnx" else {
            throw InferenceError.unsupportedOperator(op: "\(node.domain)::\(node.opType)", node: name)
        }
        guard !node.output.isEmpty, !node.output[0].isEmpty else { throw InferenceError.badModel(detail: "node '\(name)' has no output") }
        let attrs = try attributes(of: node, name: name)

        if node.opType == "Constant" {
            let c: ConstTensor
            switch (attrs["value"], attrs["value_float"], attrs["value_floats"], attrs["value_int"], attrs["value_ints"]) {
            case let (.tensor(t)?, _, _, _, _): c = t
            case let (_, .float(f)?, _, _, _): c = ConstTensor(shape: [], floats: [f], ints: nil)
            case let (_, _, .floats(f)?, _, _): c = ConstTensor(shape: [f.count], floats: f, ints: nil)
            case let (_, _, _, .int(i)?, _): c = ConstTensor(shape: [], floats: [Float(i)], ints: [i])
            case let (_, _, _, _, .ints(i)?): c = ConstTensor(shape: [i.count], floats: i.map { Float($0) }, ints: i)
            default: throw InferenceError.unsupportedAttribute(node: name, op: "Constant", detail: "value kind")
            }
            constants[node.output[0]] = c
            return
        }

        // Every non-empty input must exist already (ONNX requires topological order),
        // so a name nobody defines is a missing initializer.
        for i in node.input where !i.isEmpty {
            guard constants[i] != nil || slotOf[i] != nil else {
                throw InferenceError.missingInitializer(node: name, input: i)
            }
        }
        let ctx = NodeContext(name: name, op: node.opType, opset: opset, inputs: node.input, outputs: node.output,
                              attributes: attrs, constants: constants)
        if let folded = try ConstantFolder.fold(ctx, limit: limits.maxTensorElements) {
            constantElements += folded.floats.count
            guard constantElements <= limits.maxConstantElements else {
                throw InferenceError.tooLarge(what: "model constants", elements: constantElements, limit: limits.maxConstantElements)
            }
            constants[node.output[0]] = folded
            return
        }

        // Load-time fusions into the producer of input 0, when it has no other reader.
        if let src = node.input.first, readers[src] == 1, let srcSlot = slotOf[src], let p = producerStep[srcSlot] {
            let producer = steps[p].layer
            if node.opType == "BatchNormalization", let conv = producer as? ConvLayer, conv.activation == .none, !conv.fusedMaxPool2,
               conv.fusedAdd == nil {
                let bn = try BatchNormLayer(ctx)
                guard bn.scale.count == conv.outChannels else { throw ctx.shapeError("BatchNormalization has \(bn.scale.count) channels after a Conv with \(conv.outChannels)") }
                conv.fold(scale: bn.scale, shift: bn.shift)
                alias(node.output[0], to: srcSlot)
                return
            }
            if node.opType == "MaxPool", let conv = producer as? ConvLayer, !conv.fusedMaxPool2, conv.fusedAdd == nil, conv.winogradEligible,
               try PoolLayer(ctx).isPlainMax2x2 {
                conv.fusedMaxPool2 = true
                alias(node.output[0], to: srcSlot)
                return
            }
            if ["Relu", "LeakyRelu", "Clip"].contains(node.opType), let act = try UnaryLayer(ctx).fused {
                switch producer {
                case let l as ConvLayer where l.activation == .none: l.activation = act; alias(node.output[0], to: srcSlot); return
                case let l as GemmLayer where l.activation == .none: l.activation = act; alias(node.output[0], to: srcSlot); return
                case let l as BatchNormLayer where l.activation == .none: l.activation = act; alias(node.output[0], to: srcSlot); return
                case let l as BinaryLayer where l.activation == .none: l.activation = act; alias(node.output[0], to: srcSlot); return
                default: break
                }
            }
        }

        if node.opType == "Add", try fuseResidualAdd(node, ctx) { return }

        let layer: Layer
        switch node.opType {
        case "Conv": layer = try ConvLayer(ctx)
        case "BatchNormalization": layer = try BatchNormLayer(ctx)
        case "Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh": layer = try UnaryLayer(ctx)
        case "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool": layer = try PoolLayer(ctx)
        case "Gemm": layer = try GemmLayer(ctx)
        case "MatMul": layer = try MatMulLayer(ctx)
        case "Add", "Sub", "Mul", "Div": layer = try BinaryLayer(ctx)
        case "Concat": layer = try ConcatLayer(ctx)
        case "Flatten", "Reshape", "Identity", "Dropout": layer = try ReshapeLayer(ctx)
        case "Pad": layer = try PadLayer(ctx)
        case "Softmax", "LogSoftmax": layer = try SoftmaxLayer(ctx)
        default: throw InferenceError.unsupportedOperator(op: node.opType, node: name)
        }
        if let conv = layer as? ConvLayer, fuseExpansion(into: conv, node) { return }
        // Inputs a layer reads at run time: all inputs except those it consumed at build.
        let runtimeCount = layer.runtimeInputCount(node.input.count)
        var ins: [Int] = []
        for i in node.input.prefix(runtimeCount) {
            guard !i.isEmpty else { throw InferenceError.missingInput(node: name, index: ins.count) }
            ins.append(slot(i))
        }
        let outs = node.output.prefix(1).map { slot($0) }
        for s in outs where producerStep[s] != nil || s == inputSlotIndex {
            throw InferenceError.badModel(detail: "value '\(node.output[0])' is produced twice (node '\(name)')")
        }
        producerStep[outs[0]] = steps.count
        steps.append(Model.Step(layer: layer, inputs: ins, outputs: outs))
    }

    /// Folds `Add(conv, other)` (either order) into the convolution when the conv's output has no
    /// other reader, no activation or pool of its own (those come before the Add) and `other` is a
    /// value computed at run time: the conv's step moves to the Add's place in the order (its
    /// input exists already; its output had only this reader) and reads `other` as its second
    /// input. Returns false when nothing was fused.
    mutating func fuseResidualAdd(_ node: Onnx_NodeProto, _ ctx: NodeContext) throws -> Bool {
        guard node.input.count == 2, !node.output[0].isEmpty else { return false }
        for (i, src) in node.input.enumerated() {
            let other = node.input[1 - i]
            guard !src.isEmpty, src != other, readers[src] == 1, let srcSlot = slotOf[src], let p = producerStep[srcSlot],
                  let conv = steps[p].layer as? ConvLayer, conv.activation == .none, !conv.fusedMaxPool2, conv.fusedAdd == nil,
                  constants[other] == nil, let otherSlot = slotOf[other] else { continue }
            conv.fusedAdd = try BinaryLayer(ctx)
            let step = steps.remove(at: p)
            for (s, q) in producerStep where q > p { producerStep[s] = q - 1 }
            producerStep[srcSlot] = steps.count
            steps.append(Model.Step(layer: conv, inputs: [step.inputs[0], otherSlot], outputs: step.outputs))
            alias(node.output[0], to: srcSlot)
            return true
        }
        return false
    }

    /// Folds a 1×1 convolution (stride 1, no pads, one group, nothing fused after it but an
    /// activation or BatchNormalization) into the depthwise 3×3 convolution that alone reads its
    /// output (`ConvLayer.fusedExpand`): the depthwise step takes the 1×1's place in the order and
    /// reads its input. Returns false when nothing was fused.
    mutating func fuseExpansion(into conv: ConvLayer, _ node: Onnx_NodeProto) -> Bool {
        guard conv.isDepthwise, conv.kh == 3, conv.kw == 3, conv.dilH == 1, conv.dilW == 1, conv.fusedExpand == nil,
              let src = node.input.first, readers[src] == 1, let srcSlot = slotOf[src], let p = producerStep[srcSlot],
              let e = steps[p].layer as? ConvLayer, e.kh == 1, e.kw == 1, e.strideH == 1, e.strideW == 1, e.groups == 1,
              e.explicitPads.allSatisfy({ $0 == 0 }), e.fusedAdd == nil, !e.fusedMaxPool2, e.fusedExpand == nil,
              e.outChannels == conv.groups else { return false }
        let out = slot(node.output[0])
        guard producerStep[out] == nil, out != inputSlotIndex else { return false }
        conv.fusedExpand = e
        steps[p] = Model.Step(layer: conv, inputs: steps[p].inputs, outputs: [out])
        producerStep[srcSlot] = nil
        producerStep[out] = p
        return true
    }

    mutating func alias(_ name: String, to slot: Int) {
        slotOf[name] = slot
    }
}

extension Layer {
    /// How many leading node inputs are runtime tensors; weights read at build are dropped.
    func runtimeInputCount(_ declared: Int) -> Int {
        switch self {
        case is ConvLayer, is BatchNormLayer, is UnaryLayer, is PoolLayer, is ReshapeLayer, is PadLayer, is SoftmaxLayer: return 1
        case let g as GemmLayer: return g.hasC ? 3 : 2
        default: return declared
        }
    }

}
