"""kdemo's Gradio layer: one module per tab. The only part of kdemo that imports gradio."""
