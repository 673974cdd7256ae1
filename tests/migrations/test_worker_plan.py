from om_runbook.migrations.worker_pool import MIN_KEYS_FOR_WORKERS, worker_count


def test_a_small_phase_stays_in_this_process():
    assert worker_count(MIN_KEYS_FOR_WORKERS - 1, 16, 8) == 1
    assert worker_count(0, 0, 8) == 1


def test_a_large_phase_takes_one_process_per_core_but_no_more_than_its_chunks():
    assert worker_count(MIN_KEYS_FOR_WORKERS, 4, 2) == 2
    assert worker_count(10**6, 4, 8) == 4
    assert worker_count(10**6, 1, 8) == 1


def test_an_unknown_core_count_means_one():
    assert worker_count(10**6, 4, None) == 1


def test_workers_asked_for_override_the_size_rule_within_the_chunks():
    assert worker_count(10, 4, 1, requested=2) == 2
    assert worker_count(10**6, 4, 8, requested=1) == 1
    assert worker_count(10**6, 3, 8, requested=8) == 3
