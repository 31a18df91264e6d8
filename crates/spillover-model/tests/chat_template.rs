//! Chat templates: SmolLM2's (from its GGUF) must render byte for byte what HF transformers rendered
//! (`fixtures/real/smollm2.json`); Gemma-3's must open and close turns its way. The synthetic cases
//! need no files. Real-file tests skip, saying why, when a model file or the fixtures are absent.

use spillover_errors::UserFixable;
use spillover_model::chat::{ChatMessage, ChatTemplate, GEMMA3_CHAT_TEMPLATE};
use spillover_model::fixtures::{real_fixture, real_model};
use spillover_model::tokenizer::Tokenizer;

fn smollm2() -> Option<(ChatTemplate, Tokenizer, serde_json::Value)> {
    let path = real_model("SPILLOVER_SMOLLM2_GGUF")?;
    let fixture = real_fixture("smollm2.json")?;
    let tok = Tokenizer::from_gguf_file(&path).expect("SmolLM2 tokenizer builds");
    let template = ChatTemplate::from_tokenizer(&tok).expect("SmolLM2 template compiles");
    Some((template, tok, fixture))
}

#[test]
fn smollm2_user_example_matches_transformers() {
    let Some((template, _, fixture)) = smollm2() else {
        return;
    };
    let want = fixture["chat_template_user_example"]
        .as_str()
        .expect("chat_template_user_example");
    assert_eq!(template.render_user("Hi").unwrap(), want);
    let messages = [ChatMessage::user("Hi")];
    assert_eq!(template.render(&messages, true).unwrap(), want);
    let without_prompt = template.render(&messages, false).unwrap();
    assert_eq!(format!("{without_prompt}<|im_start|>assistant\n"), want);
}

#[test]
fn smollm2_chat_items_render_their_text() {
    let Some((template, tok, fixture)) = smollm2() else {
        return;
    };
    let mut rendered = 0;
    for item in fixture["items"].as_array().expect("items") {
        let text = item["text"].as_str().expect("text");
        let Some(start) = text.find("<|im_start|>user\n") else {
            continue;
        };
        let rest = &text[start + "<|im_start|>user\n".len()..];
        let user = &rest[..rest.find("<|im_end|>").expect("user turn ends")];
        let prompt = template.render_user(user).unwrap();
        assert_eq!(prompt, text);
        let ids: Vec<u32> = item["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tok.encode(&prompt, false).unwrap(), ids);
        rendered += 1;
    }
    assert_eq!(rendered, 6, "the fixture's six chat items");
}

#[test]
fn smollm2_keeps_a_given_system_prompt() {
    let Some((template, _, _)) = smollm2() else {
        return;
    };
    let messages = [
        ChatMessage::system("Be terse."),
        ChatMessage::user("Hi"),
        ChatMessage::assistant("Hello."),
    ];
    let want = "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
                <|im_start|>assistant\nHello.<|im_end|>\n";
    assert_eq!(template.render(&messages, false).unwrap(), want);
}

#[test]
fn raise_exception_fails_with_its_message() {
    let source =
        "{% if messages[0]['role'] != 'system' %}{{ raise_exception('no system') }}{% endif %}ok";
    let template = ChatTemplate::new(source, "<s>", "</s>").unwrap();
    let err = template.render_user("Hi").unwrap_err();
    assert!(err.to_string().contains("no system"), "{err}");
    assert!(err.user_can_fix());
    assert_eq!(
        template.render(&[ChatMessage::system("s")], false).unwrap(),
        "ok"
    );
}

#[test]
fn syntax_error_is_bad_input() {
    let err = ChatTemplate::new("{% for m in messages %}{{ m.content }}", "", "").unwrap_err();
    assert!(err.user_can_fix(), "{err}");
    assert!(err.to_string().contains("does not compile"), "{err}");
}

#[test]
fn whitespace_follows_jinja2_as_hf_configures_it() {
    // trim_blocks drops the newline after a block tag, lstrip_blocks the indentation before one, and a
    // single trailing newline of the template goes (keep_trailing_newline=False).
    let source = "{% for m in messages %}\n    {% if m.role == 'user' %}\n[{{ m.content }}]\n    {% endif %}\n{% endfor %}\n";
    let template = ChatTemplate::new(source, "", "").unwrap();
    let messages = [
        ChatMessage::user("a"),
        ChatMessage::assistant("b"),
        ChatMessage::user("c"),
    ];
    assert_eq!(template.render(&messages, false).unwrap(), "[a]\n[c]\n");
}

#[test]
fn python_methods_and_variables_are_available() {
    let source =
        "{{ bos_token }}{% for m in messages %}{{ m['role'].upper() }}:{{ m.content.strip() }}|\
                  {% endfor %}{% if add_generation_prompt %}{{ eos_token }}{% endif %}";
    let template = ChatTemplate::new(source, "<B>", "<E>").unwrap();
    let out = template
        .render(&[ChatMessage::user("  hi  ")], true)
        .unwrap();
    assert_eq!(out, "<B>USER:hi|<E>");
    let source = "{% for k, v in messages[0].items() %}{{ k }}={{ v }};{% endfor %}\
                  {{ messages[0].get('content') }}{{ tools is none }}{{ messages[0].tool_calls is defined }}";
    let template = ChatTemplate::new(source, "", "").unwrap();
    let out = template.render(&[ChatMessage::user("x")], false).unwrap();
    assert_eq!(out, "role=user;content=x;xTrueFalse");
}

#[test]
fn tojson_writes_what_python_json_dumps_writes() {
    let template = ChatTemplate::new(
        "{{ messages[0] | tojson }} {{ {'a': [1, 2.5, true, none]} | tojson }}",
        "",
        "",
    )
    .unwrap();
    let out = template
        .render(&[ChatMessage::user("<b> & 'q' \"é\"\n")], false)
        .unwrap();
    assert_eq!(
        out,
        r#"{"role": "user", "content": "<b> & 'q' \"é\"\n"} {"a": [1, 2.5, true, null]}"#
    );
    let template = ChatTemplate::new("{{ messages | tojson(indent=2) }}", "", "").unwrap();
    let out = template.render(&[ChatMessage::user("x")], false).unwrap();
    assert_eq!(
        out,
        "[\n  {\n    \"role\": \"user\",\n    \"content\": \"x\"\n  }\n]"
    );
}

#[test]
fn gemma3_template_opens_and_closes_turns() {
    let template = ChatTemplate::new(GEMMA3_CHAT_TEMPLATE, "<bos>", "<eos>").unwrap();
    let out = template.render_user("Hi").unwrap();
    assert_eq!(
        out,
        "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
    );
    let messages = [
        ChatMessage::system("Be terse."),
        ChatMessage::user("Hi"),
        ChatMessage::assistant("Hello."),
        ChatMessage::user("Bye"),
    ];
    let out = template.render(&messages, false).unwrap();
    let want = "<bos><start_of_turn>user\nBe terse.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n\
                <start_of_turn>user\nBye<end_of_turn>\n";
    assert_eq!(out, want);
    let err = template
        .render(&[ChatMessage::assistant("x")], false)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Conversation roles must alternate"),
        "{err}"
    );
}

#[test]
fn gemma3_gguf_renders_a_user_turn() {
    let Some(path) = real_model("SPILLOVER_GEMMA3_GGUF") else {
        return;
    };
    let tok = Tokenizer::from_gguf_file(&path).expect("Gemma-3 tokenizer builds");
    let template = ChatTemplate::from_tokenizer(&tok).expect("a Gemma template");
    let out = template.render_user("What is 2+2?").unwrap();
    assert!(
        out.contains("<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n"),
        "{out:?}"
    );
    assert!(out.ends_with("<start_of_turn>model\n"), "{out:?}");
    let ids = tok.encode(&out, false).unwrap();
    assert_eq!(ids[0], tok.bos_id().unwrap());
    assert_eq!(
        ids.iter()
            .filter(|&&id| Some(id) == tok.token_to_id("<start_of_turn>"))
            .count(),
        2
    );
}
