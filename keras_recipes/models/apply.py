"""`apply_recipe`: a recipe onto your own Sequential or Functional Keras model.

The model is rebuilt through Keras's own cloning (`keras.models.clone_model` with a
`call_function`), never edited in place: every layer of the returned model is new, with
fresh weights, and your model is left as it was. Each layer gets what `RecipeLayers`
gives the toolkit's own models (AlexNet, the MLP), from the same code.

What cannot be rewritten safely is refused with a `ConfigError` naming the layer: a
subclassed model, a nested model, a shared layer, a layer with trainable weights the
recipe does not cover, and, under SELU, a graph that breaks its self-normalising
conditions. A recipe is never half applied.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import keras

from keras_recipes.errors import ConfigError, RecipeRefused
from keras_recipes.models.blocks import RecipeLayers
from keras_recipes.models.mc_dropout import MCAverage, MCDropout, MCRepeat
from keras_recipes.models.rrelu import RReLU
from keras_recipes.recipes import Recipe

_L = keras.layers
DEPTHWISE_LAYERS = (_L.DepthwiseConv1D, _L.DepthwiseConv2D)
SEPARABLE_LAYERS = (_L.SeparableConv1D, _L.SeparableConv2D)
TRANSPOSE_LAYERS = (_L.Conv1DTranspose, _L.Conv2DTranspose, _L.Conv3DTranspose)
WEIGHT_LAYERS = (
    _L.Dense,
    _L.Conv1D,
    _L.Conv2D,
    _L.Conv3D,
    _L.Conv1DTranspose,
    _L.Conv2DTranspose,
    _L.Conv3DTranspose,
    *DEPTHWISE_LAYERS,
    *SEPARABLE_LAYERS,
)
ACTIVATION_LAYERS = {
    _L.ReLU: "relu",
    _L.ELU: "elu",
    _L.LeakyReLU: "leaky_relu",
    _L.PReLU: "prelu",
    RReLU: "rrelu",
    _L.Softmax: "softmax",
}
# The dropout kinds a recipe chooses between; other noise layers (spatial dropout, Gaussian
# noise, a Dropout with a noise_shape such as EfficientNet's drop-connect) are kept.
DROPOUT_TYPES = (_L.Dropout, _L.AlphaDropout, MCDropout)
# Activations that gate or normalise another tensor rather than add a nonlinearity:
# softmax always, a sigmoid where it feeds a Multiply (squeeze-and-excitation).
ALWAYS_KEPT = ("softmax", "log_softmax", "linear")
GATES = ("sigmoid", "hard_sigmoid")


@dataclass(frozen=True)
class LayerChange:
    """One row of a `RecipeReport`: a layer of the returned model and what happened to it.

    Attributes:
        layer: str. The layer's name in the returned model.
        kind: str. Its type in your model ("new" for a layer the recipe inserted).
        change: str. What the recipe changed, or why it kept the layer.
    """

    layer: str
    kind: str
    change: str


@dataclass
class RecipeReport:
    """What `apply_recipe(..., report=True)` changed, one row per layer it touched.

    Layers it passes through unchanged (pooling, padding, merges, reshapes) have no row.
    """

    recipe: str
    model: str
    rows: list[LayerChange] = field(default_factory=list)

    def add(self, layer: str, kind: str, change: str) -> None:
        self.rows.append(LayerChange(layer, kind, change))

    def changes(self, layer: str) -> list[str]:
        """Every change recorded for `layer`."""
        return [row.change for row in self.rows if row.layer == layer]

    def __str__(self) -> str:
        head = f"Recipe {self.recipe!r} applied to model {self.model!r}: {len(self.rows)} rows"
        width = max([len(r.layer) for r in self.rows] + [5])
        kind_width = max([len(r.kind) for r in self.rows] + [4])
        lines = [head, f"{'layer':<{width}}  {'type':<{kind_width}}  change"]
        lines += [f"{r.layer:<{width}}  {r.kind:<{kind_width}}  {r.change}" for r in self.rows]
        return "\n".join(lines)


def apply_recipe(
    model: keras.Model,
    recipe: Recipe | str | Path,
    report: bool = False,
    *,
    seed: int | None = None,
) -> keras.Model | tuple[keras.Model, RecipeReport]:
    """A new model: `model`'s graph with `recipe` applied and fresh weights.

    - Hidden Conv (1D/2D/3D, transposed, depthwise, separable) and Dense layers take the
      recipe's init, bias, L2 decay (none under decoupled, AdamW-style decay) and max-norm.
      The output layer (the Conv/Dense behind a model output) keeps its activation and
      takes the init that activation asks for (Glorot for softmax, sigmoid, linear).
    - Hidden activations (a layer's `activation=`, Activation, ReLU, ELU, LeakyReLU, PReLU)
      become the recipe's; softmax and a sigmoid gating a Multiply are kept.
    - Batch norm, `normalization.kind = "batch"`: your BN layers are kept (with the
      recipe's momentum and decay); a hidden Conv/Dense followed by its activation gets one
      on the recipe's side of it unless one is already right before or after it. A layer
      feeding BN directly has no bias. `"none"`: your BN layers are removed.
    - Dropout, AlphaDropout and MCDropout layers take the recipe's kind, and its rate where
      it sets one; none is added. MC passes are averaged from the first dropout on.
    - SELU: a merge (a skip connection), batch norm, frozen weights or non-alpha dropout
      is an error naming the layers. Standardise the inputs you feed it yourself.

    Sequential comes back as Functional. A subclassed or nested model, a shared layer, a
    layer with trainable weights the recipe does not cover (LSTM, Embedding, ...: build
    those with `RecipeLayers`) and the `alexnet2012` table are errors naming the layer.

    Example:

    >>> import keras
    >>> mine = keras.Sequential([
    ...     keras.Input((8,)),
    ...     keras.layers.Dense(16, activation="relu", name="hidden"),
    ...     keras.layers.Dense(3, activation="softmax", name="classifier"),
    ... ])
    >>> model, report = apply_recipe(mine, "default", report=True)
    >>> [layer.name for layer in model.layers[1:]]
    ['hidden', 'hidden_bn', 'hidden_elu', 'classifier']
    >>> report.changes("hidden")
    ['hidden: init he_normal, no bias (batch norm follows), L2 0.00025']

    Args:
        model: keras.Model. A built Sequential or Functional model; it is not changed.
        recipe: Recipe, a registered recipe name, or a path to a `.toml` recipe.
        report: bool. Also return a `RecipeReport` of what changed, per layer.
        seed: int or None. Seeds the new dropout and RReLU layers from their names, as the
            toolkit's models do (`layer_seed`); None: Keras's global seed picks them.

    Returns:
        The new model, or `(model, report)` with `report=True`.

    Raises:
        ConfigError: for a model or layer the recipe cannot be applied to, as above.
    """
    layers = RecipeLayers(recipe, seed)
    graph = _Graph.of(model)
    plan = _Plan.of(graph, layers)
    rewriter = _Rewriter(graph, plan, layers)
    new_model = keras.models.clone_model(
        graph.model, clone_function=lambda layer: layer, call_function=rewriter.call
    )
    rewriter.copy_states(new_model)
    return (new_model, rewriter.report) if report else new_model


# -- the user's graph -------------------------------------------------------------------------


def _history(obj) -> Iterator[str]:
    """Names of the layers behind the tensors in a serialized node (their `keras_history`)."""
    if isinstance(obj, dict):
        if "keras_history" in obj:
            yield obj["keras_history"][0]
            return
        for value in obj.values():
            yield from _history(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            yield from _history(value)


def _output_names(spec) -> Iterator[str]:
    """Layer names in a config's `output_layers`: one [name, node, tensor], a list or a dict."""
    if isinstance(spec, dict):
        for value in spec.values():
            yield from _output_names(value)
    elif isinstance(spec, list | tuple) and spec and isinstance(spec[0], str):
        yield spec[0]
    elif isinstance(spec, list | tuple):
        for value in spec:
            yield from _output_names(value)


@dataclass
class _Graph:
    """The layers of a model, who feeds whom, and which produce its outputs.

    Read from `model.get_config()`, the model's own serialised graph: each layer's inbound
    nodes name the layers whose tensors it takes.
    """

    model: keras.Model
    layers: dict[str, keras.layers.Layer]
    inputs: dict[str, list[str]]
    consumers: dict[str, list[str]]
    outputs: list[str]

    @classmethod
    def of(cls, model: keras.Model) -> _Graph:
        view = _functional_view(model)
        config = view.get_config()
        layers = {layer.name: layer for layer in view.layers}
        inputs = {name: [] for name in layers}
        consumers = {name: [] for name in layers}
        for entry in config["layers"]:
            name, nodes = entry["name"], entry["inbound_nodes"]
            if len(nodes) > 1:
                raise ConfigError(
                    f"Layer {name!r} of model {model.name!r} is shared: it is called "
                    f"{len(nodes)} times. apply_recipe cannot give each call its own batch "
                    "norm and activation while the calls share one set of weights. Give each "
                    "call its own layer (RecipeLayers(recipe).dense(...) / .conv2d(...) "
                    "build one per call), then apply the recipe."
                )
            for source in dict.fromkeys(_history(nodes)):
                inputs[name].append(source)
                consumers[source].append(name)
        outputs = list(dict.fromkeys(_output_names(config["output_layers"])))
        return cls(view, layers, inputs, consumers, outputs)

    def feeds_only(self, name: str, layer_type) -> bool:
        """True when every consumer of `name` is a `layer_type` (and there is one)."""
        found = self.consumers[name]
        return bool(found) and all(isinstance(self.layers[c], layer_type) for c in found)

    def feeds_any(self, name: str, layer_type) -> bool:
        return any(isinstance(self.layers[c], layer_type) for c in self.consumers[name])


def _functional_view(model) -> keras.Model:
    """A plain Functional model over `model`'s own layers (no layer is copied or called)."""
    if isinstance(model, keras.Sequential):
        try:
            return keras.Model(model.inputs[0], model.outputs[0], name=model.name)
        except (AttributeError, ValueError, IndexError):
            raise ConfigError(
                f"Sequential model {model.name!r} has no input shape yet: start it with "
                "keras.Input(shape) (or call model.build(input_shape)), then apply the recipe."
            ) from None
    # A Functional model is a keras.Function: a graph of layers; a subclassed one is not.
    if not isinstance(model, keras.Model) or not isinstance(model, keras.Function):
        raise ConfigError(
            f"{getattr(model, 'name', model)!r} ({type(model).__name__}) is not a Sequential "
            "or Functional Keras model: its layers are wired in call(), which apply_recipe "
            "cannot rewrite safely. Build its layers with RecipeLayers(recipe) (conv2d, "
            "dense, activation, normalization, dropout, conv_block) instead."
        )
    return keras.Model(model.input, model.output, name=model.name)


# -- what each layer becomes ------------------------------------------------------------------


def _activation_name(layer) -> str:
    """The activation a layer applies: a weight layer's `activation=`, or the layer itself."""
    for cls, name in ACTIVATION_LAYERS.items():
        if isinstance(layer, cls):
            return name
    function = getattr(layer, "activation", None)
    return getattr(function, "__name__", str(function)) if function else "linear"


def _is_activation(layer) -> bool:
    return isinstance(layer, (_L.Activation, *ACTIVATION_LAYERS))


def _is_recipe_dropout(layer) -> bool:
    return type(layer) in DROPOUT_TYPES and not getattr(layer, "noise_shape", None)


def _is_noise(layer) -> bool:
    return isinstance(layer, _L.Dropout | _L.AlphaDropout | _L.GaussianDropout | _L.GaussianNoise)


def _names(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass
class _Plan:
    """What happens to each layer, decided from the whole graph before anything is built.

    `roles[name]` is one of weights, output, activation, kept, batch_norm, removed,
    dropout, state (kept, with its non-trainable weights copied). `bn[name]` places a new
    batch norm "before" or "after" the activation of a weight layer (its own
    `activation=`) or of an activation layer; `bn_base` names it after the weight layer.
    """

    roles: dict[str, str] = field(default_factory=dict)
    why_kept: dict[str, str] = field(default_factory=dict)
    output_activation: dict[str, str] = field(default_factory=dict)
    bn: dict[str, str] = field(default_factory=dict)
    bn_base: dict[str, str] = field(default_factory=dict)
    no_bias: set[str] = field(default_factory=set)
    mc_first: str | None = None
    mc_last: str | None = None

    @classmethod
    def of(cls, graph: _Graph, layers: RecipeLayers) -> _Plan:
        plan = cls()
        plan._find_outputs(graph)
        for name, layer in graph.layers.items():
            plan.roles[name] = plan._role(graph, layers, name, layer)
        _check_init_table(graph, plan, layers)
        _check_self_normalizing(graph, plan, layers)
        if layers.recipe.normalization.kind == "batch":
            plan._place_batch_norm(graph, layers)
        if layers.mc_passes > 1:
            plan._place_mc_passes(graph)
        return plan

    def _find_outputs(self, graph: _Graph) -> None:
        """The output layers: the Conv/Dense behind each model output, through activation
        (and MCAverage) layers, whose activations are the output's and are kept."""
        for name in graph.outputs:
            chain = []
            while isinstance(graph.layers[name], MCAverage) or _is_activation(graph.layers[name]):
                chain.append(name)
                name = graph.inputs[name][0]
            layer = graph.layers[name]
            if not isinstance(layer, WEIGHT_LAYERS):
                continue  # features (e.g. include_top=False): every layer is hidden
            own = _activation_name(layer)
            after = [
                _activation_name(graph.layers[n]) for n in chain if _is_activation(graph.layers[n])
            ]
            # The activation right after the layer is the one its init follows.
            self.output_activation[name] = own if own != "linear" or not after else after[-1]
            for kept in chain:
                self.why_kept[kept] = "kept: the output's activation"

    def converts(self, graph: _Graph, name: str) -> bool:
        """True when the activation of layer `name` becomes the recipe's."""
        activation = _activation_name(graph.layers[name])
        if name in self.why_kept or activation in ALWAYS_KEPT:
            return False
        return not (activation in GATES and graph.feeds_any(name, _L.Multiply))

    def _role(self, graph: _Graph, layers: RecipeLayers, name: str, layer) -> str:
        if isinstance(layer, _L.InputLayer):
            return "input"
        if isinstance(layer, keras.Model):
            raise ConfigError(
                f"Layer {name!r} is a nested model ({type(layer).__name__}); apply_recipe "
                "rewrites one flat graph. Build the outer model from the inner model's "
                "layers (keras.Model(inner.input, head(inner.output))), then apply the recipe."
            )
        if isinstance(layer, WEIGHT_LAYERS):
            return "output" if name in self.output_activation else "weights"
        if _is_activation(layer):
            if self.converts(graph, name):
                return "activation"
            self.why_kept.setdefault(name, f"kept: {_activation_name(layer)} gates or normalises")
            return "kept"
        if isinstance(layer, _L.BatchNormalization):
            kind = layers.recipe.normalization.kind
            return "batch_norm" if kind == "batch" else "removed"
        if isinstance(layer, MCRepeat | MCAverage):
            return "removed"  # the recipe's MC passes decide whether they come back
        if _is_recipe_dropout(layer):
            return "dropout"
        return self._other_role(name, layer)

    def _other_role(self, name: str, layer) -> str:
        if layer.trainable_weights:
            raise ConfigError(
                f"Layer {name!r} ({type(layer).__name__}) has trainable weights that the "
                "recipe does not cover (apply_recipe rewrites Conv, Dense, BatchNormalization "
                "and activation layers). Build that model with RecipeLayers(recipe), or "
                f"freeze the layer (layer.trainable = False) to keep its weights as they are."
            )
        if _is_noise(layer):
            self.why_kept[name] = "kept: noise or drop-path layer, not the recipe's dropout"
        if layer.weights:
            self.why_kept[name] = "kept, with its (non-trainable) weights copied"
            return "state"
        return "kept"

    def _place_batch_norm(self, graph: _Graph, layers: RecipeLayers) -> None:
        """A hidden Conv/Dense followed by its activation gets batch norm on the recipe's
        side of it, unless one is already right before or after that activation."""
        placement = layers.recipe.normalization.placement
        bn = _L.BatchNormalization
        for name, role in self.roles.items():
            linear = _activation_name(graph.layers[name]) == "linear"
            if role == "weights" and self.converts(graph, name):
                if not graph.feeds_any(name, bn):
                    self._add_bn(name, name, placement)
            elif role == "weights" and linear and graph.feeds_only(name, bn):
                self.no_bias.add(name)
            elif role == "activation":
                source = graph.inputs[name][0]
                block = (
                    self.roles[source] == "weights"
                    and _activation_name(graph.layers[source]) == "linear"
                    and graph.consumers[source] == [name]
                )
                if block and not graph.feeds_any(name, bn):
                    self._add_bn(name, source, placement)

    def _add_bn(self, name: str, weights: str, placement: str) -> None:
        self.bn[name] = placement
        self.bn_base[name] = weights
        if placement == "before":
            self.no_bias.add(weights)

    def _place_mc_passes(self, graph: _Graph) -> None:
        """MCRepeat before the first dropout and MCAverage after the output, where the layers
        between them form one chain (each takes one tensor and feeds one layer)."""
        dropouts = [name for name, role in self.roles.items() if role == "dropout"]
        if not dropouts:
            return
        first, chain = dropouts[0], [dropouts[0]]
        while len(graph.consumers[chain[-1]]) == 1:
            nxt = graph.consumers[chain[-1]][0]
            if len(graph.inputs[nxt]) != 1:
                break
            chain.append(nxt)
        stray = [d for d in dropouts if d not in chain]
        if len(graph.outputs) != 1 or chain[-1] != graph.outputs[0] or stray:
            raise RecipeRefused(
                f"MC dropout averages regularization.mc_passes passes from the first dropout "
                f"layer ({first!r}) to the output, which needs one chain of single-input "
                f"layers from there to a single output; it ends at {chain[-1]!r}"
                + (f" and misses {_names(stray)}" if stray else "")
                + ". Set regularization.mc_passes=1 (one stochastic pass per prediction) or "
                'regularization.dropout_kind="dropout".'
            )
        self.mc_first, self.mc_last = first, chain[-1]


def _check_init_table(graph: _Graph, plan: _Plan, layers: RecipeLayers) -> None:
    weights = [name for name, role in plan.roles.items() if role in ("weights", "output")]
    if layers.uses_init_table and weights:
        raise RecipeRefused(
            f"Recipe {layers.recipe.name!r} uses init.kernel='alexnet2012', AlexNet's own "
            f"per-layer normal(0, std) table, which has no entry for layer {weights[0]!r} of "
            f"model {graph.model.name!r}. Use a Keras initializer instead, e.g. "
            'recipe.replace(init={"kernel": "he_normal"}).'
        )


def _check_self_normalizing(graph: _Graph, plan: _Plan, layers: RecipeLayers) -> None:
    """SELU self-normalises only in a plain stack of LeCun-initialised layers, without batch
    norm and with AlphaDropout; the recipe's validation checks the recipe itself, this the
    graph. Every broken condition is listed with the layers that break it."""
    if layers.recipe.activation.name != "selu":
        return
    reg = layers.recipe.regularization
    kept = ("kept", "state")
    plain_dropout = reg.dropout_rate == 0 and reg.dropout_kind != "alpha"
    conditions = {
        "merge branches (skip connections; SELU needs a plain sequential stack)": [
            n for n, sources in graph.inputs.items() if len(sources) > 1
        ],
        "are batch norm (SELU needs none: remove them)": [
            n for n, layer in graph.layers.items() if isinstance(layer, _L.BatchNormalization)
        ],
        "keep their own frozen weights (SELU needs LeCun normal init in every layer)": [
            n
            for n, layer in graph.layers.items()
            if plan.roles[n] == "state" and not layer.trainable
        ],
        'are dropout other than AlphaDropout (set regularization.dropout_kind="alpha")': [
            n
            for n, layer in graph.layers.items()
            if (_is_noise(layer) and plan.roles[n] in kept)
            or (plan.roles[n] == "dropout" and plain_dropout)
        ],
    }
    broken = [f"{_names(names)} {why}" for why, names in conditions.items() if names]
    if broken:
        raise RecipeRefused(
            f"Recipe {layers.recipe.name!r} uses SELU, which self-normalises only in a plain "
            f"stack with LeCun init, no batch norm and AlphaDropout; model "
            f"{graph.model.name!r} breaks it: layers "
            + "; layers ".join(broken)
            + ". Use a recipe without SELU for this model (e.g. 'elu' or 'default')."
        )


# -- the rewrite --------------------------------------------------------------------------------


class _Rewriter:
    """`clone_model`'s call_function: builds each layer's replacement and calls it.

    `clone_model` walks the graph and hands over the user's layer; the user's layer is
    never called, so the user's model keeps its own graph.
    """

    def __init__(self, graph: _Graph, plan: _Plan, layers: RecipeLayers):
        self.graph, self.plan, self.layers = graph, plan, layers
        self.recipe = layers.recipe
        self.report = RecipeReport(self.recipe.name, graph.model.name)
        self.taken = set(graph.layers)

    def call(self, layer, *args, **kwargs):
        name = layer.name
        if name == self.plan.mc_first:
            args = (self.layers.mc_repeat(args[0]), *args[1:])
            self.report.add("mc_repeat", "new", f"inserted: {self.layers.mc_passes} MC passes")
        outputs = getattr(self, f"_{self.plan.roles[name]}")(layer, args, kwargs)
        if name == self.plan.mc_last:
            outputs = self.layers.mc_average(outputs)
            self.report.add("mc_average", "new", "inserted: the mean of the MC passes")
        return outputs

    def copy_states(self, model: keras.Model) -> None:
        for name, role in self.plan.roles.items():
            if role == "state":
                layer = model.get_layer(name)
                layer.set_weights(self.graph.layers[name].get_weights())
                layer.finalize_state()  # e.g. Normalization derives its mean from the weights

    def _fresh(self, base: str) -> str:
        name = base
        for index in itertools.count(1):
            if name not in self.taken:
                break
            name = f"{base}_{index}"
        self.taken.add(name)
        return name

    # -- one method per role --------------------------------------------------------------

    def _kept(self, layer, args, kwargs):
        if layer.name in self.plan.why_kept:
            self.report.add(layer.name, type(layer).__name__, self.plan.why_kept[layer.name])
        return type(layer).from_config(layer.get_config())(*args, **kwargs)

    _state = _kept

    def _removed(self, layer, args, kwargs):
        self.report.add(layer.name, type(layer).__name__, "removed: not in the recipe")
        return args[0]

    def _weights(self, layer, args, kwargs):
        use_bias = layer.name not in self.plan.no_bias
        config = self._weight_config(layer, self.layers.weight_kwargs(use_bias))
        split = self.plan.converts(self.graph, layer.name)
        if split:
            config["activation"] = "linear"
        outputs = type(layer).from_config(config)(*args, **kwargs)
        self._report_weights(layer, "hidden", self.recipe.init.kernel, use_bias)
        if split:
            outputs = self._activation_unit(outputs, layer, moved=True)
        return outputs

    def _output(self, layer, args, kwargs):
        activation = self.plan.output_activation[layer.name]
        weights = self.layers.output_kwargs(activation)
        config = self._weight_config(layer, weights)
        init = _snake(type(weights["kernel_initializer"]).__name__)
        self._report_weights(layer, f"output ({activation})", init, True)
        return type(layer).from_config(config)(*args, **kwargs)

    def _activation(self, layer, args, kwargs):
        return self._activation_unit(args[0], layer, moved=False)

    def _batch_norm(self, layer, args, kwargs):
        config = layer.get_config()
        kept = {key: config[key] for key in ("axis", "epsilon", "center", "scale")}
        self.report.add(layer.name, type(layer).__name__, self._bn_text("kept"))
        return self.layers.normalization(layer.name, **kept)(*args, **kwargs)

    def _dropout(self, layer, args, kwargs):
        rate = self.recipe.regularization.dropout_rate or layer.rate
        new = self.layers.dropout(layer.name, rate)
        if new is None:
            self.report.add(layer.name, type(layer).__name__, "removed: rate 0")
            return args[0]
        text = f"{type(layer).__name__}({layer.rate:g}) -> {type(new).__name__}({rate:g})"
        self.report.add(layer.name, type(layer).__name__, text)
        return new(*args, **kwargs)

    # -- helpers ---------------------------------------------------------------------------

    def _activation_unit(self, x, layer, *, moved: bool):
        """[BN] -> the recipe's activation -> [BN], for the activation of `layer`; `moved`:
        it was a weight layer's own `activation=` and becomes a layer of its own."""
        placement, base = self.plan.bn.get(layer.name), self.plan.bn_base.get(layer.name)
        axis = 1 if getattr(layer, "data_format", None) == "channels_first" else -1
        if placement == "before":
            x = self._new_bn(x, f"{base}_bn", axis, "before")
        act = self.recipe.activation.name
        name = self._fresh(f"{layer.name}_{act}") if moved else layer.name
        x = self.layers.activation(name, _spatial_axes(x, axis))(x)
        text = f"activation {_activation_name(layer)} -> {act}"
        if moved:
            self.report.add(name, "new", f"{text} (moved out of {layer.name})")
        else:
            self.report.add(name, type(layer).__name__, text)
        if placement == "after":
            x = self._new_bn(x, f"{base}_bn", axis, "after")
        return x

    def _new_bn(self, x, base: str, axis: int, where: str):
        name = self._fresh(base)
        self.report.add(name, "new", self._bn_text(f"inserted: batch norm {where} the activation"))
        return self.layers.normalization(name, axis=axis)(x)

    def _bn_text(self, text: str) -> str:
        decay = self.layers.l2_regularizer()
        return f"{text} (momentum {self.recipe.normalization.momentum:g}" + (
            f", L2 {decay.l2:g} on gamma and beta)" if decay else ")"
        )

    def _weight_config(self, layer, kwargs: dict) -> dict:
        """The layer's config with the recipe's weights: each kernel (a separable conv has
        two) gets its own initializer, and the decay and max-norm."""
        config = layer.get_config()
        config.update(
            use_bias=kwargs["use_bias"],
            bias_initializer=kwargs["bias_initializer"],
            bias_regularizer=kwargs["bias_regularizer"],
        )
        init = kwargs["kernel_initializer"]
        for prefix in _kernel_names(layer):
            config[f"{prefix}_initializer"] = type(init).from_config(init.get_config())
            config[f"{prefix}_regularizer"] = kwargs["kernel_regularizer"]
            if kwargs["kernel_constraint"] is not None:
                config[f"{prefix}_constraint"] = self.layers.max_norm(unit_axes(layer, prefix))
        return config

    def _report_weights(self, layer, role: str, init: str, use_bias: bool) -> None:
        decay = self.layers.l2_regularizer()
        parts = [f"{role}: init {init}", "bias" if use_bias else "no bias (batch norm follows)"]
        parts.append(f"L2 {decay.l2:g}" if decay else "no L2 (decoupled decay or none)")
        if self.recipe.regularization.max_norm:
            parts.append(f"max-norm {self.recipe.regularization.max_norm:g}")
        self.report.add(layer.name, type(layer).__name__, ", ".join(parts))


def _snake(name: str) -> str:
    """GlorotUniform -> glorot_uniform, as the recipe names initializers."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def unit_axes(layer, prefix: str = "kernel") -> int | list[int]:
    """The axes of `layer`'s kernel `prefix` that hold one unit's incoming weights: what
    max-norm bounds (Keras's MaxNorm takes them as `axis`).

    Example:

    >>> import keras
    >>> unit_axes(keras.layers.Dense(4)), unit_axes(keras.layers.Conv2D(4, 3))
    (0, [0, 1, 2])
    >>> unit_axes(keras.layers.Conv2DTranspose(4, 3)), unit_axes(keras.layers.DepthwiseConv2D(3))
    ([0, 1, 3], [0, 1])
    >>> unit_axes(keras.layers.SeparableConv2D(4, 3), "pointwise")
    [0, 1, 2]
    """
    if not hasattr(layer, "kernel_size"):
        return 0  # Dense: (inputs, units)
    spatial = list(range(len(layer.kernel_size)))
    if isinstance(layer, DEPTHWISE_LAYERS) or prefix == "depthwise":
        return spatial  # (*spatial, channels, multiplier): one unit per channel and multiplier
    if isinstance(layer, TRANSPOSE_LAYERS):
        return [*spatial, len(spatial) + 1]  # (*spatial, filters, inputs)
    return [*spatial, len(spatial)]  # (*spatial, inputs, filters)


def _kernel_names(layer) -> tuple[str, ...]:
    if isinstance(layer, SEPARABLE_LAYERS):
        return ("depthwise", "pointwise")
    if isinstance(layer, DEPTHWISE_LAYERS):
        return ("depthwise",)
    return ("kernel",)


def _spatial_axes(x, channel_axis: int) -> list[int] | None:
    """The axes a PReLU slope is shared over: every axis but the batch and the channels."""
    rank = len(x.shape)
    if rank <= 2:
        return None
    return list(range(2, rank)) if channel_axis == 1 else list(range(1, rank - 1))
