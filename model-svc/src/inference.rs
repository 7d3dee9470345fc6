//! ONNX inference with tract: a model is loaded once per version into an optimized plan with
//! a symbolic batch dimension, then run on any number of rows.
//!
//! [`Model::load`] also checks the model against its contract (one input of the contract's
//! name, float32, `[batch, len(columns)]`; each contract output present with its dtype and
//! width) and says what does not match as [`Problem`]s. [`Model::infer`] is blocking CPU
//! work: the service calls it inside `spawn_blocking`, the benchmark directly.

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::contract::{Contract, Dtype, Problem, onnx_type_name};

/// Batch sizes a plan is built for: powers of two up to 1024. Any batch is a sum of them.
/// Measured with the committed models (`lyra bench models`, two alternating runs each):
/// 1024-row chunks against 256-row ones are 5–35% faster for segmentation, demand and
/// propensity, and even for purchasing power.
pub const CHUNKS: [usize; 11] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/// A model ready to run: optimized tract plans and its contract.
pub struct Model {
    contract: Contract,
    /// One plan per size in [`CHUNKS`]: tract optimizes a graph of concrete shapes several
    /// times better than one with a symbolic batch dimension (measured 6-12x on dense and
    /// element-wise layers), so a batch runs as chunks of these sizes.
    plans: Vec<Arc<TypedSimplePlan>>,
    /// Run states of each plan, kept between runs: spawning one allocates every
    /// intermediate tensor afresh, a measurable cost on small chunks.
    states: Vec<std::sync::Mutex<Vec<TypedSimpleState>>>,
    /// For each contract output (in contract order), its position among the plans' outputs.
    output_index: Vec<usize>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.contract.name)
            .finish_non_exhaustive()
    }
}

/// The values of one output tensor, row-major, `width` columns per row.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// float32 values.
    F32(Vec<f32>),
    /// float64 values.
    F64(Vec<f64>),
    /// int64 values.
    I64(Vec<i64>),
    /// int32 values.
    I32(Vec<i32>),
}

impl Values {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::I32(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` as f64 (for comparisons).
    pub fn get_f64(&self, i: usize) -> f64 {
        match self {
            Values::F32(v) => v[i] as f64,
            Values::F64(v) => v[i],
            Values::I64(v) => v[i] as f64,
            Values::I32(v) => v[i] as f64,
        }
    }

    /// Column `c` of a row-major matrix `width` wide, as JSON numbers (NaN becomes null).
    pub fn column_json(&self, c: usize, width: usize) -> serde_json::Value {
        fn col<T: Copy + serde::Serialize>(v: &[T], c: usize, w: usize) -> serde_json::Value {
            serde_json::to_value(v.iter().skip(c).step_by(w).copied().collect::<Vec<T>>())
                .unwrap_or_default()
        }
        match self {
            Values::F32(v) => col(v, c, width),
            Values::F64(v) => col(v, c, width),
            Values::I64(v) => col(v, c, width),
            Values::I32(v) => col(v, c, width),
        }
    }
}

/// What one run produced: one entry per contract output, in contract order.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// Rows in the batch.
    pub rows: usize,
    /// Values per contract output.
    pub values: Vec<Values>,
}

/// Element type and shape of each output of a typed model.
type OutputFacts = Vec<(DatumType, Vec<TDim>)>;

/// Widens the constant operand of an element-wise binary operation to the full shape of
/// the other operand, when it is broadcast along the batch: `x - mean` with `mean` of one
/// row. tract runs `[n, k] op [1, k]` through a generic broadcasting loop unless `k` is a
/// multiple of the SIMD width, but `[n, k] op [n, k]` through its vectorized kernel: the
/// folded scaling of our models (subtract a mean, multiply by 1/std) ran 10x slower
/// without this. Costs a copy of the constant per plan (bounded by `LIMIT` elements).
fn widen_broadcast_constants(model: &mut TypedModel) -> TractResult<()> {
    use tract_onnx::tract_core::ops::binary::TypedBinOp;
    use tract_onnx::tract_core::ops::konst::Const;
    const LIMIT: usize = 1 << 22;
    let binary: Vec<usize> = model
        .nodes()
        .iter()
        .filter(|n| n.op_is::<TypedBinOp>() && n.inputs.len() == 2)
        .map(|n| n.id)
        .collect();
    for id in binary {
        let Some(shape) = model
            .outlet_fact(OutletId::new(id, 0))?
            .shape
            .as_concrete()
            .map(|s| s.to_vec())
        else {
            continue;
        };
        if shape.iter().product::<usize>() > LIMIT {
            continue;
        }
        for slot in 0..2 {
            let (input, other) = (model.node(id).inputs[slot], model.node(id).inputs[1 - slot]);
            let Some(konst) = model.node(input.node).op_as::<Const>() else {
                continue;
            };
            let value = konst.val().clone();
            let other_full = model.outlet_fact(other)?.shape.as_concrete() == Some(&shape[..]);
            // A scalar has its own fast kernel, and a bias after a matrix product is fused
            // into the product's kernel: leave both alone.
            let producer = model.node(other.node).op().name();
            let after_product = ["EinSum", "MatMul", "Gemm"]
                .iter()
                .any(|p| producer.contains(p));
            if !other_full
                || after_product
                || value.len() == 1
                || value.rank() != shape.len()
                || value.shape() == &shape[..]
            {
                continue;
            }
            let wide = value.broadcast_to_shape(&shape)?;
            let name = format!("{}.wide_{slot}", model.node(id).name);
            let outlet = model.add_const(name, wide)?;
            model.add_edge(outlet, InletId::new(id, slot))?;
        }
    }
    Ok(())
}

fn chain(e: &anyhow::Error) -> String {
    format!("{e:#}")
}

/// A graph input or output as the ONNX file declares it.
struct Declared {
    name: String,
    elem_type: i32,
    /// `None` per dimension when it is symbolic or absent; `None` overall without a shape.
    dims: Option<Vec<Option<i64>>>,
    /// The first dimension's symbol, if it has one.
    first_symbol: Option<String>,
}

fn declared(info: &pb::ValueInfoProto) -> Declared {
    let tensor = match info.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => Some(t),
        _ => None,
    };
    let shape = tensor.and_then(|t| t.shape.as_ref());
    let dims = shape.map(|s| {
        s.dim
            .iter()
            .map(|d| match d.value {
                Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) => Some(v),
                _ => None,
            })
            .collect()
    });
    let first_symbol = shape
        .and_then(|s| s.dim.first())
        .and_then(|d| match &d.value {
            Some(pb::tensor_shape_proto::dimension::Value::DimParam(p)) if !p.is_empty() => {
                Some(p.clone())
            }
            _ => None,
        });
    Declared {
        name: info.name.clone(),
        elem_type: tensor.map(|t| t.elem_type).unwrap_or(0),
        dims,
        first_symbol,
    }
}

fn shape_text(dims: &Option<Vec<Option<i64>>>) -> String {
    match dims {
        None => "no declared shape".into(),
        Some(d) => format!(
            "[{}]",
            d.iter()
                .map(|x| x.map(|v| v.to_string()).unwrap_or_else(|| "batch".into()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl Model {
    /// Reads `onnx`, checks its declared input and outputs against `contract`, and builds
    /// the optimized plan. Every mismatch found is reported; any problem means no model.
    pub fn load(onnx: &[u8], contract: &Contract) -> Result<Model, Vec<Problem>> {
        let framework = tract_onnx::onnx();
        let proto = framework
            .proto_model_for_read(&mut &onnx[..])
            .map_err(|e| {
                vec![Problem::new(
                    "model.onnx",
                    "an ONNX model (protobuf ModelProto)",
                    format!("unreadable: {}", chain(&e)),
                )]
            })?;
        let Some(graph) = proto.graph.as_ref() else {
            return Err(vec![Problem::new(
                "model.onnx",
                "an ONNX model with a graph",
                "no graph",
            )]);
        };
        let mut problems = Vec::new();

        // The input, as declared (graph inputs that are initializers are weights, not inputs).
        let weights: std::collections::HashSet<&str> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs: Vec<Declared> = graph
            .input
            .iter()
            .filter(|i| !weights.contains(i.name.as_str()))
            .map(declared)
            .collect();
        let spec = &contract.input;
        let width = spec.width() as i64;
        if inputs.len() != 1 {
            problems.push(Problem::new(
                "model inputs",
                format!("exactly one input, {:?}", spec.name),
                format!(
                    "{} ({})",
                    inputs.len(),
                    inputs
                        .iter()
                        .map(|i| format!("{:?}", i.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let mut batch_symbol = "batch".to_string();
        if let Some(input) = inputs.first() {
            if input.name != spec.name {
                problems.push(Problem::new(
                    "model input name",
                    format!("{:?} (contract.input.name)", spec.name),
                    format!("{:?}", input.name),
                ));
            }
            if Dtype::from_onnx(input.elem_type) != Some(Dtype::Float32) {
                problems.push(Problem::new(
                    format!("input {:?} dtype", input.name),
                    "float32",
                    onnx_type_name(input.elem_type),
                ));
            }
            match &input.dims {
                Some(d) if d.len() == 2 && d[1] == Some(width) && d[0].is_none() => {}
                dims => problems.push(Problem::new(
                    format!("input {:?} shape", input.name),
                    format!(
                        "[batch, {width}] (a symbolic batch dimension and one column per contract.input.columns)"
                    ),
                    shape_text(dims),
                )),
            }
            if let Some(s) = &input.first_symbol {
                batch_symbol = s.clone();
            }
        }

        // The outputs, as declared.
        let outputs: Vec<Declared> = graph.output.iter().map(declared).collect();
        let by_name: HashMap<&str, usize> = outputs
            .iter()
            .enumerate()
            .map(|(i, o)| (o.name.as_str(), i))
            .collect();
        let mut output_index = Vec::new();
        for spec in &contract.outputs {
            match by_name.get(spec.name.as_str()) {
                None => problems.push(Problem::new(
                    format!("output {:?}", spec.name),
                    "an output of the model with this name (contract.outputs)",
                    format!(
                        "model outputs {}",
                        outputs
                            .iter()
                            .map(|o| format!("{:?}", o.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
                Some(&i) => {
                    output_index.push(i);
                    let declared = &outputs[i];
                    if declared.elem_type != 0
                        && Dtype::from_onnx(declared.elem_type) != Some(spec.dtype())
                    {
                        problems.push(Problem::new(
                            format!("output {:?} dtype", spec.name),
                            spec.dtype.clone(),
                            onnx_type_name(declared.elem_type),
                        ));
                    }
                }
            }
        }
        for o in &outputs {
            if !contract.outputs.iter().any(|s| s.name == o.name) {
                problems.push(Problem::new(
                    format!("model output {:?}", o.name),
                    format!(
                        "only the contract's outputs ({})",
                        contract
                            .outputs
                            .iter()
                            .map(|s| format!("{:?}", s.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "an output the contract does not list",
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }

        // Build: input fact [batch, width] f32, typed, checked, optimized.
        let built = (|| -> TractResult<(TypedModel, OutputFacts)> {
            let mut model = framework.model_for_proto_model(&proto)?;
            let batch = model.sym(&batch_symbol);
            model.set_input_fact(
                0,
                f32::fact([batch.to_dim(), (width as usize).to_dim()]).into(),
            )?;
            let typed = model.into_typed()?.into_decluttered()?;
            let facts = (0..typed.output_outlets()?.len())
                .map(|i| {
                    let f = typed.output_fact(i)?;
                    Ok((f.datum_type, f.shape.iter().cloned().collect()))
                })
                .collect::<TractResult<Vec<_>>>()?;
            Ok((typed, facts))
        })();
        let (typed, facts) = built.map_err(|e| {
            vec![Problem::new(
                "model.onnx",
                "a graph tract can analyse with input [batch, columns] (MLP, linear or k-means operators)",
                chain(&e),
            )]
        })?;
        for (spec, &i) in contract.outputs.iter().zip(&output_index) {
            let (datum, shape) = &facts[i];
            if Dtype::from_datum(*datum) != Some(spec.dtype()) {
                problems.push(Problem::new(
                    format!("output {:?} dtype", spec.name),
                    spec.dtype.clone(),
                    format!("{datum:?} (as computed by tract)"),
                ));
            }
            let w = shape.get(1).and_then(|d| d.to_i64().ok());
            if shape.len() != 2 || w != Some(spec.width() as i64) {
                problems.push(Problem::new(
                    format!("output {:?} shape", spec.name),
                    format!("[batch, {}] (one column per contract column)", spec.width()),
                    format!(
                        "[{}]",
                        shape
                            .iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let symbol = typed.symbols.sym(&batch_symbol);
        let plans = CHUNKS
            .iter()
            .map(|&rows| {
                let subs = HashMap::from([(symbol.clone(), TDim::Val(rows as i64))]);
                let mut concrete = typed.set_symbols(&subs)?;
                widen_broadcast_constants(&mut concrete)?;
                let mut optimized = concrete.into_optimized()?;
                crate::argext::swap_in(&mut optimized)?;
                optimized.into_runnable()
            })
            .collect::<TractResult<Vec<_>>>()
            .map_err(|e| {
                vec![Problem::new(
                    "model.onnx",
                    "a graph tract can optimize and plan",
                    chain(&e),
                )]
            })?;
        Ok(Model {
            contract: contract.clone(),
            states: plans.iter().map(|_| Default::default()).collect(),
            plans,
            output_index,
        })
    }

    /// The contract the model was loaded with.
    pub fn contract(&self) -> &Contract {
        &self.contract
    }

    /// Runs the model on `rows` rows of row-major float32 input (`rows × input width`
    /// values, already checked). Blocking CPU work.
    pub fn infer(&self, input: &[f32], rows: usize) -> anyhow::Result<Outputs> {
        let width = self.contract.input.width();
        anyhow::ensure!(
            input.len() == rows * width,
            "{} values for {rows} rows of {width}",
            input.len()
        );
        let mut values: Vec<Values> = self
            .contract
            .outputs
            .iter()
            .map(|spec| {
                let n = rows * spec.width();
                match spec.dtype() {
                    Dtype::Float32 => Values::F32(Vec::with_capacity(n)),
                    Dtype::Float64 => Values::F64(Vec::with_capacity(n)),
                    Dtype::Int64 => Values::I64(Vec::with_capacity(n)),
                    Dtype::Int32 => Values::I32(Vec::with_capacity(n)),
                }
            })
            .collect();
        let mut done = 0;
        while done < rows {
            // The largest chunk that fits what is left: whole chunks of the largest size,
            // then the remainder's binary digits, so no row is computed twice or padded.
            let c = CHUNKS.iter().rposition(|&n| n <= rows - done).unwrap_or(0);
            let n = CHUNKS[c];
            let chunk = &input[done * width..(done + n) * width];
            let tensor = Tensor::from_shape(&[n, width], chunk)?;
            let pooled = self.states[c]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop();
            let mut state = match pooled {
                Some(state) => state,
                None => self.plans[c].spawn()?,
            };
            let results = state.run(tvec![tensor.into()])?;
            self.states[c]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(state);
            for ((spec, &i), out) in self
                .contract
                .outputs
                .iter()
                .zip(&self.output_index)
                .zip(&mut values)
            {
                let t = &results[i];
                anyhow::ensure!(
                    t.shape() == [n, spec.width()],
                    "output {:?}: shape {:?}, expected [{n}, {}]",
                    spec.name,
                    t.shape(),
                    spec.width()
                );
                let plain = t.try_as_plain_ram()?;
                match out {
                    Values::F32(v) => v.extend_from_slice(plain.as_slice::<f32>()?),
                    Values::F64(v) => v.extend_from_slice(plain.as_slice::<f64>()?),
                    Values::I64(v) => v.extend_from_slice(plain.as_slice::<i64>()?),
                    Values::I32(v) => v.extend_from_slice(plain.as_slice::<i32>()?),
                }
            }
            done += n;
        }
        Ok(Outputs { rows, values })
    }
}
