"""Data: sources (Kaggle folder, class sub-folders, TFDS, arrays, the built-in demo), decoded
once into memory, split, and served as tf.data pipelines; plus 10-crop test-time augmentation."""

from keras_recipes.data.bundle import DataBundle, build_pipelines
from keras_recipes.data.decode import DecodedImages, decode_files, decode_source, resize_size_for
from keras_recipes.data.demo import make_demo
from keras_recipes.data.loader import load_data
from keras_recipes.data.pipeline import PREPROCESSING, center_crop
from keras_recipes.data.sources import Source, resolve_source
from keras_recipes.data.split import Split, channel_stats, stratified_split
from keras_recipes.data.tta import evaluate_tta, predict_tta, ten_crop

__all__ = [
    "PREPROCESSING",
    "DataBundle",
    "DecodedImages",
    "Source",
    "Split",
    "build_pipelines",
    "center_crop",
    "channel_stats",
    "decode_files",
    "decode_source",
    "evaluate_tta",
    "load_data",
    "make_demo",
    "predict_tta",
    "resize_size_for",
    "resolve_source",
    "stratified_split",
    "ten_crop",
]
