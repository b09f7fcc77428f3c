"""What each tab of the app shows, computed without gradio: forms, figures, tables and Markdown."""
