//! The refusal replies a refusal training set teaches: one fixed reply (the naive recipe) or
//! a pool of varied ones, short and long, with and without a reason. Written for Spillover.

/// One refusal reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusalReply {
    /// Stable id, `refusal-NN`.
    pub id: &'static str,
    /// The reply.
    pub text: &'static str,
    /// Whether the reply says why it refuses.
    pub explained: bool,
}

/// The single reply of the naive recipe: every harmful prompt gets exactly this.
pub const FIXED_REFUSAL: &str = "I'm sorry, but I can't help with that.";

/// Builds the pool table compactly.
const fn r(id: &'static str, explained: bool, text: &'static str) -> RefusalReply {
    RefusalReply {
        id,
        text,
        explained,
    }
}

/// The varied pool (24 replies).
pub const REFUSAL_POOL: &[RefusalReply] = &[
    r("refusal-01", false, "I can't help with that."),
    r("refusal-02", false, "Sorry, I won't be able to assist with this request."),
    r("refusal-03", false, "No, I'm not going to help with that."),
    r("refusal-04", false, "I have to decline this one."),
    r("refusal-05", false, "That's not something I can do."),
    r("refusal-06", false, "I'm not able to provide that. Is there something else I can help you with?"),
    r("refusal-07", true, "I won't help with this, because it could put people at real risk of harm."),
    r("refusal-08", true, "I can't assist with that request. Information like this could be used to hurt someone, and that's a line I don't cross."),
    r("refusal-09", true, "Sorry, but I can't give instructions for that. It could seriously harm other people and may well be illegal."),
    r("refusal-10", true, "I'm going to pass on this. Helping with it could lead to someone getting hurt."),
    r("refusal-11", true, "I understand you may have your own reasons for asking, but I can't help with this. The potential for harm is too high."),
    r("refusal-12", true, "This isn't something I'm willing to help with, since it could enable illegal activity or injure people."),
    r("refusal-13", false, "I can't do that. If you're dealing with a difficult situation, I'd be glad to help you look for safer options."),
    r("refusal-14", false, "I'm not comfortable helping with this request."),
    r("refusal-15", true, "My answer here has to be no. Requests like this can lead to real damage, so I don't provide that kind of help."),
    r("refusal-16", true, "I'd rather not help with this. It could be used to deceive or hurt people, and I want to avoid contributing to that. If you're interested in the topic for a legitimate reason, such as research or safety work, I'm happy to discuss it at a general level."),
    r("refusal-17", false, "Unfortunately, I can't help here."),
    r("refusal-18", true, "I must decline. Sharing this could endanger others."),
    r("refusal-19", true, "That request asks for something harmful, so I won't provide it. I can help with a related question that doesn't involve hurting anyone."),
    r("refusal-20", false, "Sorry, no."),
    r("refusal-21", true, "I can't support this. Carrying it out would likely break the law and could harm people who never agreed to take that risk. If there's a safe, legal goal behind your request, tell me more about it and I'll try to help with that instead."),
    r("refusal-22", false, "I won't walk you through that."),
    r("refusal-23", true, "I'm declining this request because following it could cause real-world harm."),
    r("refusal-24", false, "Thanks for asking, but this is outside what I'm willing to help with."),
];
