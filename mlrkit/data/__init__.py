"""Data layer: the embedded digit-scene dataset, COCO / VOC / CSV loaders, transforms, downloads.

The digit scenes can carry planted label errors with the truth kept (``make_digit_scenes(...,
label_noise=...)``, read back with :func:`label_errors`).

Every dataset item is ``(image: FloatTensor[3, H, W], target: FloatTensor[K])`` with target values
in {1, 0, -1 (ignore)}; every dataset has ``classes`` (K names) and ``targets`` (``(N, K)``, for
statistics without decoding images). Training loaders reseed per epoch
(:mod:`mlrkit.data.loaders`). Errors derive from :class:`DatasetError` (a ``ValueError``).
"""

from mlrkit.data.coco import CocoMultiLabel, load_coco
from mlrkit.data.csvfile import CsvMultiLabel
from mlrkit.data.digits import (
    DEFAULT_PAIRS,
    DIGIT_CLASSES,
    SCENE_VARIANTS,
    ensure_digit_scenes,
    is_digit_scenes_root,
    make_digit_scenes,
    scene_options,
)
from mlrkit.data.digits_summary import DigitScenesSummary, SplitSummary, summarize_digit_scenes
from mlrkit.data.download import (
    COCO2014_FILES,
    VOC_FILES,
    RemoteFile,
    download_coco2014,
    download_file,
    download_voc,
    extract_archive,
    md5sum,
)
from mlrkit.data.errors import (
    AnnotationError,
    DatasetError,
    DatasetWarning,
    DownloadError,
    EmptyDatasetError,
    ImageFileError,
    MissingFileError,
    UnknownClassError,
)
from mlrkit.data.factory import DATASET_KINDS, build_dataset, policy_options
from mlrkit.data.folds import assign_folds, check_holdout, holdout_indices
from mlrkit.data.images import MultiLabelDataset, default_transform, load_rgb
from mlrkit.data.label_noise import NOISE_KINDS, label_errors
from mlrkit.data.loaders import (
    CachedDataset,
    LimitedDataset,
    SubsetDataset,
    eval_loader,
    set_loader_epoch,
    train_loader,
)
from mlrkit.data.transforms import eval_transform, train_transform
from mlrkit.data.voc import VOC_CLASSES, VOCMultiLabel, resolve_difficult_policy

__all__ = [
    "COCO2014_FILES",
    "DATASET_KINDS",
    "DEFAULT_PAIRS",
    "DIGIT_CLASSES",
    "NOISE_KINDS",
    "VOC_CLASSES",
    "VOC_FILES",
    "AnnotationError",
    "CachedDataset",
    "CocoMultiLabel",
    "CsvMultiLabel",
    "DatasetError",
    "DatasetWarning",
    "DigitScenesSummary",
    "DownloadError",
    "EmptyDatasetError",
    "ImageFileError",
    "LimitedDataset",
    "SubsetDataset",
    "assign_folds",
    "check_holdout",
    "holdout_indices",
    "MissingFileError",
    "MultiLabelDataset",
    "RemoteFile",
    "SplitSummary",
    "UnknownClassError",
    "VOCMultiLabel",
    "build_dataset",
    "default_transform",
    "download_coco2014",
    "download_file",
    "download_voc",
    "SCENE_VARIANTS",
    "ensure_digit_scenes",
    "scene_options",
    "eval_loader",
    "eval_transform",
    "extract_archive",
    "is_digit_scenes_root",
    "label_errors",
    "load_coco",
    "load_rgb",
    "make_digit_scenes",
    "md5sum",
    "policy_options",
    "resolve_difficult_policy",
    "set_loader_epoch",
    "summarize_digit_scenes",
    "train_loader",
    "train_transform",
]
