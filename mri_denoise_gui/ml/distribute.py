"""Training on several devices or machines with tf.distribute: the one place that picks a strategy.

``TrainingConfig.distribution`` chooses it:

- ``none``: one device (TensorFlow's default strategy), as before.
- ``mirrored``: synchronous data parallelism over this machine's GPUs, or over its logical CPU
  devices when there is no GPU (how the tests run it: the CPU split in two).
- ``multiworker``: synchronous data parallelism over the machines described by the ``TF_CONFIG``
  environment variable (each process runs the same command; Ray Train's TensorflowTrainer or a
  SLURM script writes TF_CONFIG). Only the chief writes the model folder.

The batch size in the config is per replica; each step takes ``batch_size x replicas`` patches.
"""

from __future__ import annotations

import json
import os

from mri_denoise_gui.ml.training_choices import DISTRIBUTIONS  # noqa: F401 - the one list


def make_strategy(kind: str):
    """The tf.distribute strategy for ``kind``; for ``multiworker`` call it before anything else
    touches TensorFlow's runtime (collective ops must be set up at start-up)."""
    import tensorflow as tf

    if kind == "none":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        from mri_denoise_gui.ml.device import configure_devices

        configure_devices()
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        ops = None if gpus else tf.distribute.ReductionToOneDevice()  # NCCL is for GPUs only
        return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=ops)
    if kind == "multiworker":
        check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown distribution {kind!r}; choose from {', '.join(DISTRIBUTIONS)}")


def check_tf_config() -> dict:
    """TF_CONFIG parsed, or a one-line ValueError saying what is wrong with it."""
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        raise ValueError("distribution 'multiworker' needs the TF_CONFIG environment variable "
                         "(cluster addresses and this process's task); see README 'Running on a cluster'")
    try:
        config = json.loads(text)
        workers = config["cluster"].get("worker", []) + config["cluster"].get("chief", [])
        config["task"]["type"], int(config["task"]["index"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError("TF_CONFIG must be JSON like {\"cluster\": {\"worker\": [\"host:port\", ...]}, "
                         "\"task\": {\"type\": \"worker\", \"index\": 0}}") from None
    if not workers:
        raise ValueError("TF_CONFIG lists no workers")
    return config


def _task(strategy) -> tuple[str | None, int, dict]:
    try:
        resolver = strategy.cluster_resolver
    except (AttributeError, NotImplementedError):
        resolver = None
    if resolver is None:
        return None, 0, {}
    spec = resolver.cluster_spec().as_dict()
    return resolver.task_type, int(resolver.task_id or 0), spec


def is_chief(strategy) -> bool:
    """Whether this process writes the model: the only process, the 'chief', or worker 0 without a chief."""
    task_type, task_id, spec = _task(strategy)
    if not spec or task_type is None:
        return True
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in spec)


def worker_index(strategy) -> int:
    """This process's position among the training processes (0 on a single machine): seeds each
    worker's own patch stream, so workers do not all draw the same patches."""
    task_type, task_id, spec = _task(strategy)
    if not spec or task_type in (None, "chief"):
        return 0
    return task_id + (1 if "chief" in spec else 0)


def distribute_dataset(strategy, dataset):
    """Split each global batch over the replicas; every worker feeds its own (differently seeded)
    endless stream, so tf.data must not shard one stream across workers."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return strategy.experimental_distribute_dataset(dataset.with_options(options))



def keep_fit_working(model, strategy) -> None:
    """Work around two Keras 3 (3.15) faults with MultiWorkerMirroredStrategy, both in how fit()
    reduces values across workers with ``strategy.reduce``: (1) before training it reduces the
    first (noisy, clean) batch, which that strategy refuses for a tuple, though only the batch's
    shapes are needed; (2) it reduces each step's scalar logs along axis 0, which scalars lack.
    Fix: hand (1) one replica's local batch, and average (2) over all replicas with ``axis=None``.
    Nothing changes for other strategies; tests/ml/test_distribute.py fails if Keras changes."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as keras_tf_trainer

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    original_build, original_reduce = model._maybe_symbolic_build, keras_tf_trainer.reduce_per_replica

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(local, next(batches))
                break
        return original_build(data_batch=data_batch)

    def reduce_per_replica(values, strategy_, reduction):
        if strategy_ is strategy and reduction in ("auto", "mean"):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original_reduce(values, strategy_, reduction)

    model._maybe_symbolic_build = symbolic_build
    keras_tf_trainer.reduce_per_replica = reduce_per_replica
