"Rewrite nbs/sidebar.yml (Quarto's sidebar, in the docs' reading order) without building the docs: `make sidebar`."
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_docs import NBS, notebooks, quarto_sidebar

if __name__ == '__main__':
    (NBS / 'sidebar.yml').write_text(quarto_sidebar([p for p in notebooks() if p.stem != 'index']))
