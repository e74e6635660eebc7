"""Train a tiny, randomly initialised Qwen2-VL with TRL's SFTTrainer on a dataset's `sft` config.

Used by test/sft-train.test.ts. Everything is built here from small configs: nothing is
downloaded (HF_HUB_OFFLINE=1 for the folder run; the local Hub for the Hub run).

  python tiny_vlm_sft.py --folder DIR [--hub REPO --revision v1] [--steps N]

Prints one JSON line: {"folder": {"losses": [...]}, "hub": {...}, "mismatch": {"error": "..."}}.
- The tokenizer is a byte-level BPE trained on the config's own text plus Qwen2-VL's special
  tokens, with a chat template that writes `<|vision_start|><|image_pad|><|vision_end|>` per image part.
- The processor is Qwen2-VL's without its video processor (that needs torchvision, which has no
  CPU build here), with the PIL image processor at 4 merged patches per image.
- "mismatch" trains on rows whose last image was removed: TRL must refuse them (placeholder count).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
from typing import Any

import numpy as np
import torch
from datasets import Dataset, load_dataset
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLProcessor,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
    Qwen2VLImageProcessorPil,
)
from transformers.processing_utils import ProcessorMixin
from trl import SFTConfig, SFTTrainer

SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Qwen2-VL's layout: each image part becomes vision_start, image_pad (expanded by the processor
# to the image's merged patch count), vision_end.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% else %}{{ part['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Image side that Qwen2-VL's resize snaps to (patch 14 x merge 2): every image -> 2x2 merged patches.
PIXELS = 28 * 28 * 4
ROWS = 4


def seed_all(seed: int = 0) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
    """Qwen2-VL's processor with images only (its video processor needs torchvision)."""

    def __init__(self, image_processor: Any, tokenizer: Any, chat_template: str | None = None) -> None:  # noqa: ANN401
        self.image_token = "<|image_pad|>"
        self.video_token = "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


def texts(ds: Dataset) -> list[str]:
    out = []
    for row in ds.select_columns(["prompt", "completion"]):
        for message in row["prompt"] + row["completion"]:
            out.extend(part["text"] for part in message["content"] if part["text"])
    return out


def build_processor(ds: Dataset) -> ImageOnlyQwen2VLProcessor:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts(ds), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
    )
    images = Qwen2VLImageProcessorPil(
        min_pixels=PIXELS, max_pixels=PIXELS, patch_size=14, merge_size=2, temporal_patch_size=2
    )
    return ImageOnlyQwen2VLProcessor(images, tokenizer, chat_template=CHAT_TEMPLATE)


def build_model(processor: ImageOnlyQwen2VLProcessor) -> Qwen2VLForConditionalGeneration:
    tok = processor.tokenizer
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tok),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            # head_dim 16: the three M-RoPE sections (time, height, width) cover its 8 frequency pairs.
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
            "max_position_embeddings": 4096,
            "tie_word_embeddings": True,
            "bos_token_id": None,
            "eos_token_id": tok.eos_token_id,
            "pad_token_id": tok.pad_token_id,
        },
        vision_config={
            "depth": 1,
            "embed_dim": 32,
            "hidden_size": 32,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "in_channels": 3,
        },
        image_token_id=processor.image_token_id,
        video_token_id=processor.video_token_id,
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
    )
    seed_all(0)
    return Qwen2VLForConditionalGeneration(config)


def train(ds: Dataset, steps: int, workdir: str) -> list[float]:
    """SFTTrainer on the first ROWS rows (an overfit subset), constant lr; the logged losses."""
    seed_all(0)
    subset = ds.select(range(ROWS))
    processor = build_processor(subset)
    model = build_model(processor)
    args = SFTConfig(
        output_dir=workdir,
        max_steps=steps,
        per_device_train_batch_size=2,
        learning_rate=5e-3,
        lr_scheduler_type="constant",
        warmup_steps=0,
        logging_steps=1,
        report_to=[],
        seed=0,
        data_seed=0,
        use_cpu=True,
        save_strategy="no",
        max_length=None,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=subset, processing_class=processor)
    trainer.train()
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def drop_last_image(ds: Dataset) -> Dataset:
    return ds.map(lambda row: {"images": row["images"][:-1]})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder")
    parser.add_argument("--hub")
    parser.add_argument("--revision", default="v1")
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as work:
        if args.folder:
            ds = load_dataset(args.folder, "sft", split="train")
            report["folder"] = {"rows": len(ds), "losses": train(ds, args.steps, work)}
            # Images and placeholders disagree: TRL must refuse to train.
            try:
                train(drop_last_image(ds.select(range(ROWS))), 1, work)
                report["mismatch"] = {"error": None}
            except ValueError as err:
                report["mismatch"] = {"error": str(err)}
        if args.hub:
            ds = load_dataset(args.hub, "sft", split="train", revision=args.revision)
            report["hub"] = {"rows": len(ds), "losses": train(ds, args.steps, work)}
    for part in report.values():
        if "losses" in part:
            part["finite"] = all(math.isfinite(x) for x in part["losses"])
    sys.stdout.flush()
    print(json.dumps(report))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
