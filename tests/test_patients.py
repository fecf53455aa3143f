"""The capstone's patients: each is broken the way notebook 09 says, and each treatment works."""

import pytest
import torch

from course_utils.models import mlp
from course_utils.patients import PATIENTS, examine, spiral_task, train_on_spirals

EXPECTED_FINDINGS = {
    "A": {"vanishing"},
    "B": {"exploding"},
    "C": {"dead"},
    "D": {"saturated"},
    "F": {"non-finite", "update-ratio"},
}


@pytest.fixture(scope="module")
def runs():
    return {name: examine(name) for name in PATIENTS}


@pytest.mark.parametrize("name", sorted(EXPECTED_FINDINGS))
def test_each_patient_shows_its_finding(runs, name):
    assert EXPECTED_FINDINGS[name] <= runs[name].monitor.diagnose().kinds()


def test_patients_a_c_and_e_do_not_learn_and_d_learns_slowly(runs):
    for name in "ACE":
        assert runs[name].losses[-1] > 0.6
    assert 0.45 < runs["D"].losses[-1] < 0.65
    assert runs["B"].losses[0] > 1e5 and runs["B"].losses[-1] > 10


def test_patient_e_looks_healthy_to_the_monitor_but_its_first_layer_is_huge(runs):
    assert runs["E"].monitor.diagnose().healthy
    assert runs["E"].monitor.history[0].activations()["0"].std > 100


def test_patient_f_stops_at_the_first_nan(runs):
    run = runs["F"]
    assert torch.isnan(torch.tensor(run.losses[-1])) and len(run.losses) < 10
    assert run.monitor.nonfinite.phase == "forward"
    ratios = run.monitor.history[0].update_ratios()
    assert 0.05 < torch.tensor(list(ratios.values())).nanmedian().item() < 1


def train_fresh(build, seed=0, inputs=None, **options):
    default_inputs, labels = spiral_task()
    torch.manual_seed(seed)
    model = build()
    return train_on_spirals(model, default_inputs if inputs is None else inputs, labels, **options)


def test_the_healthy_reference_trains_and_is_healthy():
    run = train_fresh(lambda: mlp(8, 32, init="kaiming", in_features=2))
    assert run.losses[-1] < 0.1 and run.monitor.diagnose().healthy


@pytest.mark.parametrize(
    ("build", "below"),
    [
        (lambda: mlp(20, 32, activation="relu", init="kaiming", in_features=2), 0.1),  # A, B
        (lambda: mlp(8, 32, activation="relu", init="kaiming", bias=0.0, in_features=2), 0.1),  # C
        (
            lambda: mlp(12, 32, activation="tanh", init="xavier", norm="layernorm", in_features=2),
            0.2,
        ),  # D
    ],
)
def test_the_treatments_in_the_answers_work(build, below):
    assert train_fresh(build).losses[-1] < below


def test_xavier_clears_patient_d_saturation():
    run = train_fresh(lambda: mlp(12, 32, activation="tanh", init="xavier", in_features=2))
    assert "saturated" not in run.monitor.diagnose().kinds()
    assert run.losses[-1] < examine("D").losses[-1]


def test_layernorm_alone_does_not_rescue_the_sigmoid_network():
    run = train_fresh(lambda: mlp(20, 32, activation="sigmoid", norm="layernorm", in_features=2))
    assert run.losses[-1] > 0.69


def test_standardised_inputs_cure_patient_e():
    raw, _ = spiral_task(input_scale=PATIENTS["E"].input_scale)
    standardised = (raw - raw.mean(0)) / raw.std(0)
    assert train_fresh(PATIENTS["E"].build, inputs=standardised).losses[-1] < 0.1


@pytest.mark.parametrize("seed", [0, 1])
def test_a_smaller_sgd_step_cures_patient_f(seed):
    torch.manual_seed(seed)
    model = PATIENTS["F"].build()
    inputs, labels = spiral_task()
    run = train_on_spirals(
        model, inputs, labels, optimizer=torch.optim.SGD(model.parameters(), lr=0.1)
    )
    assert run.monitor.nonfinite is None and run.losses[-1] < 0.5


def test_bad_input_is_explained():
    inputs, labels = spiral_task(8)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        train_on_spirals("net", inputs, labels)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        train_on_spirals(mlp(1, 4, in_features=2), inputs, labels, optimizer="rmsprop")
    with pytest.raises(TypeError, match=r"torch\.optim\.Optimizer"):
        train_on_spirals(mlp(1, 4, in_features=2), inputs, labels, optimizer=0.1)
    with pytest.raises(ValueError, match="unknown patient 'Z'"):
        examine("Z")
    with pytest.raises(ValueError, match="one factor per coordinate"):
        spiral_task(input_scale=(1.0,))


def test_vital_signs_show_each_patients_cause():
    from course_utils.patients import vital_signs

    assert "Sigmoid" in vital_signs("A") and "from 0.5" in vital_signs("A")
    assert "std × √fan_in from 2.8" in vital_signs("B")
    assert "mean from -1.00 to -1.00" in vital_signs("C")
    assert "std × √fan_in from 7.6" in vital_signs("D")
    assert "std per feature 425, 0.391" in vital_signs("E")
    assert "SGD, learning rate 10" in vital_signs("F")
    with pytest.raises(ValueError, match="unknown patient"):
        vital_signs("G")


def test_the_healthy_reference_has_some_dead_units_but_below_the_alarm_and_a_loud_output_layer():
    """Notebook 09 section 1: up to about a third of a layer dead, output layer about 40x."""
    run = train_fresh(lambda: mlp(8, 32, init="kaiming", in_features=2))
    for record in (run.monitor.history[0], run.monitor.latest):
        dead = [
            s.dead_fraction for s in record.activations().values() if s.dead_fraction is not None
        ]
        assert 0 < max(dead) < 0.4
    gradients = run.monitor.history[0].gradients()
    weights = [g.mean_abs for name, g in gradients.items() if name.endswith("weight")]
    assert weights[-1] > 20 * max(weights[:-1])
