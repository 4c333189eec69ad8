"""Regenerate the pictures of docs/guides/inspecting-graphs.md (needs Graphviz's `dot`).

    python docs/pictures/make_pictures.py

The SVG files are committed, so building the documentation does not need `dot`.
"""
from pathlib import Path

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp

HERE = Path(__file__).resolve().parent


def layer_loss(w, x, y):
    return fnp.mean((fnp.tanh(x @ w) - y) ** 2)


def rnn_last(w, xs):
    h, _ = fg.scan(lambda h, x: (fnp.tanh(w * h + x), h), 0.0, xs)
    return h


def main():
    x, y, w = np.ones((8, 3)), np.zeros(8), np.zeros(3)
    fg.make_graph(fg.grad(layer_loss))(w, x, y).render(str(HERE / "layer_loss_grad.svg"))
    fg.make_graph(rnn_last)(0.5, np.ones(5)).render(str(HERE / "scan.svg"))


if __name__ == "__main__":
    main()
