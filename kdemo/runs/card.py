"""A saved run's model card (README.md): what the student is, how to load it, how it was made, how it scored."""

from __future__ import annotations

from typing import Any

from kdemo.config import DistillConfig
from kdemo.languages import language_name


def budget_text(config: dict[str, Any]) -> str:
    """A run's budget in words.

    Example:
        >>> budget_text({"max_minutes": 3, "max_steps": 100})
        '3 min / 100 steps'
    """
    parts = []
    if config.get("max_minutes"):
        parts.append(f"{config['max_minutes']:g} min")
    if config.get("max_steps"):
        parts.append(f"{config['max_steps']} steps")
    if config.get("epochs"):
        parts.append(f"{config['epochs']:g} epochs")
    return " / ".join(parts)


def model_card(run_id: str, config: DistillConfig, metrics: dict[str, dict[str, float]], meta: dict[str, Any]) -> str:
    """A README for the run: what it is, how to load it, how it was made, how it scored."""
    from kdemo.evaluate import per_language_table

    table = per_language_table({k: v for k, v in metrics.items() if v})
    header = "| language | " + " | ".join(table.columns) + " |"
    rule = "|---|" + "---|" * len(table.columns)
    lines = [f"| {language_name(lang)} ({lang}) | " + " | ".join(f"{v:.1f}" for v in row) + " |" if lang != "mean" else
             "| **mean** | " + " | ".join(f"**{v:.1f}**" for v in row) + " |" for lang, row in zip(table.index, table.values)]
    langs = ", ".join(config.languages) or "all languages of the corpus"
    return f"""# {run_id}

A multilingual sentence-embedding student distilled with kdemo from the English
teacher `{config.teacher}` (Reimers & Gurevych 2020: student(en) ≈ teacher(en), student(xx) ≈ teacher(en)).

```python
from sentence_transformers import SentenceTransformer
model = SentenceTransformer("trained/{run_id}/student")
```

## How it was made
- student: `{config.student}`, loss `{config.loss}`, languages: {langs}, corpus `{config.corpus}`
- budget: {budget_text(config.to_dict())}; {meta.get('steps', 0)} steps in {meta.get('train_seconds', 0):.0f} s of training,
  lr {config.lr:g}, batch {config.batch_size}, seed {config.seed}, warm start {'on' if config.warm_start else 'off'}
- reproduce: `python -m kdemo train --config trained/{run_id}/config.json`

## Translation retrieval on the dev split (%, both directions averaged)
student_before is the student as built (before any warm start or training); the built-in corpus's dev
split is its fixed test split, never trained on.

{header}
{rule}
{chr(10).join(lines)}
"""
