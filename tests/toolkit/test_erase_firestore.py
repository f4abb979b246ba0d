"""Issue 14: erasure deletes the person's trait watermarks (the Pipelines path's Firestore
documents keyed by person hash) and leaves everyone else's, against the Firestore emulator."""

from __future__ import annotations

import pytest
from cio_doctor.config import EnvFile
from cio_doctor.erase_firestore import TRAITS_COLLECTION, erase_watermarks
from cio_shared.contract import person_hash
from cio_shared.transactional import firestore_client

pytestmark = pytest.mark.integration


def test_the_watermarks_of_the_person_go_and_the_others_stay(firestore_emulator_host: str) -> None:
    env = EnvFile(name="erz", project_id="erase-firestore", delivery_api="pipelines")
    client = firestore_client(env.project_id, env.resource("claims"))
    erased, kept = person_hash("id", "erase-me"), person_hash("id", "keep-me")
    for person in (erased, kept):
        client.collection(TRAITS_COLLECTION).document(person).set({"traits": {"plan": "t"}})

    planned = erase_watermarks(env, {erased, person_hash("email", "a@b.c")}, act=False)
    assert (planned["found"], planned["removed"], planned["remaining"]) == (1, 0, 1)
    done = erase_watermarks(env, {erased, person_hash("email", "a@b.c")}, act=True)
    assert (done["found"], done["removed"], done["remaining"]) == (1, 1, 0)
    left = [d.id for d in client.collection(TRAITS_COLLECTION).stream()]
    assert left == [kept]

    track_env = EnvFile(name="erz", project_id="erase-firestore")
    assert erase_watermarks(track_env, {kept}, act=True)["used"] is False
