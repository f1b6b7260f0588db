"""The paper's protocols and published figures."""

from weightcast.reproduce.protocols import PAPER_FIGURES, TABLES, paper_best


def test_every_paper_figure_has_four_cells():
    for model, cells in PAPER_FIGURES.items():
        for (table, experiment), (means, stds, text) in cells.items():
            assert table in TABLES and experiment in TABLES[table].experiments
            assert len(means) == len(stds) == len(text) == 4, (model, table, experiment)


def test_paper_best_is_the_lowest_figure_of_any_model():
    assert paper_best("table2", "syn1-gd") == [.207, 4.39, 43.8, 81.1]
    assert paper_best("table2", "no-such-experiment") is None
