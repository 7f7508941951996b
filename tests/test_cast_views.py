"""The pieces the review page and the exports are made of, on small arrays: which faces show a person, the
clothes below a face, on-screen intervals, WebVTT, and the order of the questions."""

from __future__ import annotations

import numpy as np

from vcn_resources.exports import TitleTiming, on_screen_intervals, webvtt
from vcn_resources.pictures import contact_sheet, spread_faces
from videoclusternet.align import ARCFACE_TEMPLATE
from videoclusternet.context import context_descriptors, track_contexts
from videoclusternet.quality import frontality, picture_quality
from videoclusternet.questions import suggested_questions


def test_frontality_is_one_for_the_template_and_falls_as_the_head_turns():
    turned = ARCFACE_TEMPLATE.copy()
    turned[2, 0] += 10  # the nose towards one side
    upside = ARCFACE_TEMPLATE.copy()
    upside[2, 1] = 30  # the nose above the eyes: not a face's landmarks
    score = frontality(np.stack([ARCFACE_TEMPLATE, turned, upside]))
    assert score[0] > 0.99 and 0 < score[1] < 0.8 and score[2] == 0
    quality = picture_quality(np.ones(3), np.array([100.0, 100.0, 0.0]), np.stack([ARCFACE_TEMPLATE] * 3))
    assert quality[0] == quality[1] > 0 and quality[2] == 0  # a black or blurred crop comes last


def test_spread_faces_takes_each_tracks_best_before_any_second_and_episodes_in_turn():
    title = np.array(["e1", "e1", "e1", "e1", "e2", "e2"])
    track = np.array([1, 1, 2, 2, 7, 7])
    quality = np.array([0.9, 0.8, 0.5, 0.4, 0.7, 0.0])
    order = spread_faces(title, track, quality, 6).tolist()
    # Round one: e1's best track (face 0), e2's best (4), e1's second track (2); then the second faces.
    assert order[:3] == [0, 4, 2] and order[3:5] == [1, 3] and order[-1] == 5


def test_contact_sheet_is_a_png_grid():
    import cv2

    crop = cv2.imencode(".jpg", np.full((112, 112, 3), 200, np.uint8))[1].tobytes()
    sheet = cv2.imdecode(np.frombuffer(contact_sheet([crop] * 3, columns=2, rows=2), np.uint8), cv2.IMREAD_COLOR)
    assert sheet.shape == (224, 224, 3)
    assert sheet[50, 50].mean() > 150 and sheet[170, 170].mean() < 60  # three faces, one empty cell


def test_context_descriptors_tell_clothes_apart_and_say_nothing_off_frame():
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[60:200, :100] = (0, 0, 255)  # red below the left face
    frame[60:200, 100:] = (255, 0, 0)  # blue below the right one
    boxes = np.array([[30, 20, 70, 60], [130, 20, 170, 60], [130, 160, 170, 199]], np.float32)
    d = context_descriptors(frame, boxes)
    assert np.allclose(np.linalg.norm(d[:2], axis=1), 1) and d[0] @ d[1] < 0.2
    assert not d[2].any()  # the face at the bottom edge has nothing below it
    tracks = track_contexts(d, np.array([5, 5, 9]), np.array([5, 9]))
    assert np.allclose(tracks[0] @ d[0], tracks[0] @ d[1]) and not tracks[1].any()
    assert track_contexts(d, np.array([5, 5, 9]), np.zeros(0, np.int64)).shape == (0, d.shape[1])  # no kept track


def test_on_screen_intervals_merge_consecutive_faces_and_webvtt_escapes_names():
    timing = {"t": TitleTiming("t", 10.0, 5.0, 0.2)}  # faces on every 2nd frame at 10 fps
    rows = [{"timestamp": s, "person_id": "s/p0001", "name": "A <&> B"} for s in (0.0, 0.2, 0.4, 1.0, 1.2)]
    rows.append({"timestamp": 0.2, "person_id": None, "name": None})  # a face set aside
    intervals = on_screen_intervals(rows, timing, default_title="t")
    assert [(i.start_s, round(i.end_s, 3), i.faces) for i in intervals] == [(0.0, 0.6, 3), (1.0, 1.4, 2)]
    text = webvtt(intervals)
    assert text.startswith("WEBVTT\n") and "00:00:01.000 --> 00:00:01.400" in text
    assert "<v A &lt;&amp;&gt; B>A &lt;&amp;&gt; B</v>" in text


def test_questions_weigh_clothes_and_how_surely_a_track_is_a_face():
    rng = np.random.default_rng(0)
    templates = rng.normal(size=(6, 16))
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    person = np.arange(6)
    faces = np.full(6, 10.0)
    together = {(0, 1): 1, (2, 3): 1, (4, 5): 1}
    red, blue = np.eye(4)[0], np.eye(4)[1]
    context = np.stack([red, blue, red, blue, blue, blue])
    asked = suggested_questions(templates, person, faces, together, context=context)
    # Among pairs never seen together, those in the same clothes come first.
    first = {(q.a, q.b) for q in asked[:4]}
    assert first <= {(0, 2), (1, 3), (1, 4), (1, 5), (3, 4), (3, 5)}
    unsure = suggested_questions(templates, person, faces, together, context=context, faceness=np.ones(6))
    assert [(q.a, q.b) for q in unsure] == [(q.a, q.b) for q in asked]
    statue = np.ones(6)
    statue[2] = 0.05  # the detector barely believes track 2 is a face
    assert all(
        2 not in (q.a, q.b)
        for q in suggested_questions(templates, person, faces, together, context=context, faceness=statue)[:3]
    )
