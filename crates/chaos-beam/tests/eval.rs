//! Remote evaluation of Erlang source on a real node.

use chaos_beam::dist::term::{int, TermExt};
use chaos_beam::dist::{ConnectOptions, Cookie, CookieSource, DistClient};
use chaos_beam::eval::{eval, EvalError};
use chaos_testkit::TestNode;

async fn connect(node: &TestNode) -> DistClient {
    let opts = ConnectOptions::new(
        node.name.parse().unwrap(),
        Cookie::new(node.cookie.clone(), CookieSource::Flag).unwrap(),
    );
    DistClient::connect(&opts).await.expect("connect")
}

#[test]
fn evaluates_with_bindings_and_parses_once_per_connection() {
    let node = TestNode::start("eval_basic");
    smol::block_on(async {
        let c = connect(&node).await;
        let src = "Y = X * 2,\nlists:sum([Y, Z]).";
        let before = c.stats().calls;
        let v = eval(&c, src, &[("X", int(20)), ("Z", int(2))])
            .await
            .unwrap();
        assert_eq!(v.as_i64(), Some(42));
        let first = c.stats().calls - before;
        let v = eval(&c, src, &[("X", int(1)), ("Z", int(-1))])
            .await
            .unwrap();
        assert_eq!(v.as_i64(), Some(1));
        let second = c.stats().calls - before - first;
        assert_eq!(first, 3, "scan + parse + eval");
        assert_eq!(second, 1, "the parse is cached for the connection");
    });
}

#[test]
fn syntax_errors_say_where() {
    let node = TestNode::start("eval_syntax");
    smol::block_on(async {
        let c = connect(&node).await;
        let e = eval(&c, "X = 1,\nY = ,\nX.", &[]).await.unwrap_err();
        match &e {
            EvalError::Syntax { line, message, .. } => {
                assert_eq!(*line, 2, "{e}");
                assert!(message.contains("syntax error"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let e = eval(&c, "\"unterminated", &[]).await.unwrap_err();
        assert!(matches!(e, EvalError::Syntax { line: 1, .. }), "{e}");
    });
}

#[test]
fn runtime_errors_are_raised_not_fatal() {
    let node = TestNode::start("eval_raise");
    smol::block_on(async {
        let c = connect(&node).await;
        let e = eval(&c, "1 = X.", &[("X", int(2))]).await.unwrap_err();
        match &e {
            EvalError::Raised { class, reason, .. } => {
                assert_eq!(class, "error");
                assert!(reason.contains("badmatch"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let e = eval(&c, "Unbound + 1.", &[]).await.unwrap_err();
        assert!(e.to_string().contains("unbound"), "{e}");
        assert_eq!(eval(&c, "ok.", &[]).await.unwrap().as_atom(), Some("ok"));
    });
}

#[test]
fn output_goes_to_the_targets_user_not_to_us() {
    let node = TestNode::start("eval_output");
    smol::block_on(async {
        let c = connect(&node).await;
        let v = eval(&c, "io:format(\"to the target's console~n\"), erlang:group_leader() =:= erlang:whereis(user).", &[])
            .await
            .unwrap();
        assert_eq!(v.as_bool(), Some(true));
        assert_eq!(c.stats().unexpected, 0);
    });
}
