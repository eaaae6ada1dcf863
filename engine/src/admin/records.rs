//! CRUD of teams, skills, campaigns, pause reasons and queues (one macro, so the five cannot
//! drift apart), plus queue membership, numbers and organisation settings.

use super::*;

/// Why a record cannot be deleted, if something still references it.
type InUse = fn(&State, u64) -> Option<String>;
/// Rules of a record that need the rest of the configuration.
type CrossCheck<S> = fn(&State, &S, Option<u64>, &mut Errors);

macro_rules! record_crud {
    (
        kind: $kind:literal,
        record: $rec:ident,
        id: $id:ident,
        settings: $settings:ident,
        patch: $patch:ident,
        map: $map:ident,
        next: $next:ident,
        keyspace: $ks:expr,
        check: $check:path,
        cross: $cross:expr,
        in_use: $in_use:expr,
        upserted: $up:expr,
        deleted: $del:expr,
        create: $create:ident,
        get: $get:ident,
        list: $list:ident,
        update: $update:ident,
        delete: $delete:ident $(,)?
    ) => {
        impl Admin {
            #[doc = concat!("Creates a ", $kind, ".")]
            pub fn $create(&self, settings: $settings) -> Result<$rec, AdminError> {
                let mut st = self.write();
                self.save_record(&mut st, None, settings)
            }

            #[doc = concat!("The ", $kind, " with this id.")]
            pub fn $get(&self, id: $id) -> Result<$rec, AdminError> {
                self.read()
                    .$map
                    .get(&id.0)
                    .cloned()
                    .ok_or_else(|| AdminError::not_found($kind, id))
            }

            #[doc = concat!("Every ", $kind, ", by id.")]
            pub fn $list(&self) -> Vec<$rec> {
                self.read().$map.values().cloned().collect()
            }

            #[doc = concat!("Changes the given fields of a ", $kind, ".")]
            pub fn $update(&self, id: $id, patch: $patch) -> Result<$rec, AdminError> {
                let mut st = self.write();
                let mut settings = st
                    .$map
                    .get(&id.0)
                    .ok_or_else(|| AdminError::not_found($kind, id))?
                    .settings
                    .clone();
                patch.apply_to(&mut settings);
                self.save_record(&mut st, Some(id), settings)
            }

            #[doc = concat!("Deletes a ", $kind, "; refused while something references it.")]
            pub fn $delete(&self, id: $id) -> Result<(), AdminError> {
                let mut st = self.write();
                if !st.$map.contains_key(&id.0) {
                    return Err(AdminError::not_found($kind, id));
                }
                let in_use: InUse = $in_use;
                if let Some(why) = in_use(&st, id.0) {
                    return Err(AdminError::conflict("id", RULE_IN_USE, why));
                }
                self.before_delete_record(&mut st, $kind, id.0)?;
                self.store.delete($ks, &id_key(id.0))?;
                st.$map.remove(&id.0);
                st.emit($del(id));
                drop(st);
                self.flush()
            }
        }

        impl SaveRecord<$rec> for Admin {
            type Id = $id;
            type Settings = $settings;

            fn save_record(
                &self,
                st: &mut State,
                id: Option<$id>,
                settings: $settings,
            ) -> Result<$rec, AdminError> {
                let mut e = Errors::default();
                $check(&mut e, &settings);
                let cross: CrossCheck<$settings> = $cross;
                cross(st, &settings, id.map(|i| i.0), &mut e);
                e.into_result()?;
                let lower = settings.name.to_lowercase();
                if let Some(other) = st
                    .$map
                    .values()
                    .find(|r| Some(r.id) != id && r.settings.name.to_lowercase() == lower)
                {
                    return Err(AdminError::conflict(
                        "name",
                        rules::UNIQUE,
                        format!(
                            "{} {} is already named {}; choose another name",
                            $kind, other.id, settings.name
                        ),
                    ));
                }
                let mut next = st.next;
                let id = match id {
                    Some(id) => id,
                    None => {
                        next.$next += 1;
                        $id(st.next.$next)
                    }
                };
                let record = $rec { id, settings };
                self.put($ks, &id_key(id.0), &record)?;
                if next.$next != st.next.$next {
                    self.put_next(&next)?;
                    st.next = next;
                }
                st.$map.insert(id.0, record.clone());
                st.emit($up(record.clone()));
                Ok(record)
            }
        }
    };
}

/// Validation + uniqueness + write of one record kind; the caller holds the write lock and
/// flushes after releasing it.
trait SaveRecord<R> {
    type Id;
    type Settings;
    fn save_record(
        &self,
        st: &mut State,
        id: Option<Self::Id>,
        settings: Self::Settings,
    ) -> Result<R, AdminError>;
}

impl Admin {
    fn before_delete_record(
        &self,
        st: &mut State,
        kind: &'static str,
        id: u64,
    ) -> Result<(), AdminError> {
        // A queue owns its memberships: they go with it.
        if kind == "queue" {
            let q = QueueId(id);
            let agents: Vec<AgentId> = st
                .members
                .keys()
                .filter(|(mq, _)| *mq == q)
                .map(|(_, a)| *a)
                .collect();
            for a in agents {
                self.store.delete(keyspace::MEMBERS, &member_key(q, a))?;
                st.members.remove(&(q, a));
                st.emit(ConfigEvent::MemberRemoved { queue: q, agent: a });
            }
        }
        Ok(())
    }
}

fn agents_using(st: &State, what: &str, pred: impl Fn(&Agent) -> bool) -> Option<String> {
    let ids: Vec<String> = st
        .agents
        .values()
        .filter(|a| pred(&a.agent))
        .take(5)
        .map(|a| a.agent.id.to_string())
        .collect();
    (!ids.is_empty()).then(|| {
        format!(
            "{what} is still assigned to agents {}; remove it from them first",
            ids.join(", ")
        )
    })
}

fn no_cross<S>(_: &State, _: &S, _: Option<u64>, _: &mut Errors) {}

fn queue_cross(st: &State, q: &QueueSettings, _self_id: Option<u64>, e: &mut Errors) {
    st.check_queue_prompts(e, q);
    if let OverflowAction::Queue { queue } = &q.overflow_action {
        match st.queues.get(&queue.0) {
            None => e.push(
                "overflow_action.queue",
                rules::EXISTS,
                format!("queue {queue} does not exist"),
            ),
            Some(target) => e.check(
                target.settings.channel == q.channel,
                "overflow_action.queue",
                rules::CONSISTENCY,
                || format!("queue {queue} is a {} queue", target.settings.channel),
            ),
        }
    }
    for (i, r) in q.skill_requirements.iter().enumerate() {
        e.check(
            st.skills.contains_key(&r.skill.0),
            &format!("skill_requirements[{i}].skill"),
            rules::EXISTS,
            || format!("skill {} does not exist", r.skill),
        );
    }
}

fn queue_check(e: &mut Errors, q: &QueueSettings) {
    validate::check_queue(e, q, None);
}

fn queue_cross_self(st: &State, q: &QueueSettings, self_id: Option<u64>, e: &mut Errors) {
    if let (OverflowAction::Queue { queue }, Some(me)) = (&q.overflow_action, self_id) {
        if queue.0 == me {
            e.push(
                "overflow_action.queue",
                rules::CONSISTENCY,
                "a queue cannot overflow into itself",
            );
            return;
        }
    }
    queue_cross(st, q, self_id, e);
}

record_crud! {
    kind: "team", record: Team, id: TeamId, settings: TeamSettings, patch: TeamPatch,
    map: teams, next: team, keyspace: keyspace::TEAMS, check: validate::check_team,
    cross: no_cross,
    in_use: |st, id| agents_using(st, &format!("team {id}"), |a| a.profile.teams.contains(&TeamId(id))),
    upserted: ConfigEvent::TeamUpserted, deleted: ConfigEvent::TeamDeleted,
    create: create_team, get: team, list: teams, update: update_team, delete: delete_team,
}

record_crud! {
    kind: "skill", record: Skill, id: SkillId, settings: SkillSettings, patch: SkillPatch,
    map: skills, next: skill, keyspace: keyspace::SKILLS, check: validate::check_skill,
    cross: no_cross,
    in_use: |st, id| {
        agents_using(st, &format!("skill {id}"), |a| a.profile.skills.iter().any(|s| s.skill.0 == id))
            .or_else(|| st.queues.values()
                .find(|q| q.settings.skill_requirements.iter().any(|r| r.skill.0 == id))
                .map(|q| format!("skill {id} is required by queue {}; remove the requirement first", q.id)))
    },
    upserted: ConfigEvent::SkillUpserted, deleted: ConfigEvent::SkillDeleted,
    create: create_skill, get: skill, list: skills, update: update_skill, delete: delete_skill,
}

record_crud! {
    kind: "campaign", record: Campaign, id: CampaignId, settings: CampaignSettings,
    patch: CampaignPatch, map: campaigns, next: campaign, keyspace: keyspace::CAMPAIGNS,
    check: validate::check_campaign, cross: no_cross,
    in_use: |st, id| agents_using(st, &format!("campaign {id}"), |a| {
        a.profile.campaigns.iter().any(|c| c.campaign.0 == id)
            || a.profile.toolbar.recall_me_campaign == Some(CampaignId(id))
    }),
    upserted: ConfigEvent::CampaignUpserted, deleted: ConfigEvent::CampaignDeleted,
    create: create_campaign, get: campaign, list: campaigns, update: update_campaign,
    delete: delete_campaign,
}

record_crud! {
    kind: "pause reason", record: PauseReason, id: PauseReasonId,
    settings: PauseReasonSettings, patch: PauseReasonPatch, map: pause_reasons,
    next: pause_reason, keyspace: keyspace::PAUSE_REASONS, check: validate::check_pause_reason,
    cross: no_cross, in_use: |_, _| None,
    upserted: ConfigEvent::PauseReasonUpserted, deleted: ConfigEvent::PauseReasonDeleted,
    create: create_pause_reason, get: pause_reason, list: pause_reasons,
    update: update_pause_reason, delete: delete_pause_reason,
}

record_crud! {
    kind: "queue", record: Queue, id: QueueId, settings: QueueSettings, patch: QueuePatch,
    map: queues, next: queue, keyspace: keyspace::QUEUES, check: queue_check,
    cross: queue_cross_self,
    in_use: |st, id| {
        st.numbers.values()
            .find(|n| n.settings.target == Some(NumberTarget::Queue { queue: QueueId(id) }))
            .map(|n| format!("number {} routes to queue {id}; re-map or delete it first", n.number))
            .or_else(|| st.queues.values()
                .find(|q| q.settings.overflow_action == OverflowAction::Queue { queue: QueueId(id) })
                .map(|q| format!("queue {} overflows into queue {id}; change its overflow action first", q.id)))
    },
    upserted: |q| ConfigEvent::QueueUpserted(Arc::new(q)), deleted: ConfigEvent::QueueDeleted,
    create: create_queue, get: queue, list: queues, update: update_queue, delete: delete_queue,
}

impl Admin {
    // ------------------------------------------------------------ membership

    /// Adds an agent to a queue, or changes their penalty and order there.
    pub fn set_member(
        &self,
        queue: QueueId,
        agent: AgentId,
        settings: MemberSettings,
    ) -> Result<QueueMember, AdminError> {
        let mut e = Errors::default();
        validate::check_member(&mut e, &settings);
        e.into_result()?;
        let mut st = self.write();
        if !st.queues.contains_key(&queue.0) {
            return Err(AdminError::not_found("queue", queue));
        }
        if !st.agents.contains_key(&agent) {
            return Err(AdminError::not_found("agent", agent));
        }
        let m = QueueMember {
            queue,
            agent,
            settings,
        };
        self.put(keyspace::MEMBERS, &member_key(queue, agent), &m)?;
        st.members.insert((queue, agent), m.clone());
        st.emit(ConfigEvent::MemberUpserted(m.clone()));
        drop(st);
        self.flush()?;
        Ok(m)
    }

    /// Changes the given fields of a membership.
    pub fn update_member(
        &self,
        queue: QueueId,
        agent: AgentId,
        patch: MemberPatch,
    ) -> Result<QueueMember, AdminError> {
        let mut settings = self.member(queue, agent)?.settings;
        patch.apply_to(&mut settings);
        self.set_member(queue, agent, settings)
    }

    /// One membership.
    pub fn member(&self, queue: QueueId, agent: AgentId) -> Result<QueueMember, AdminError> {
        self.read()
            .members
            .get(&(queue, agent))
            .cloned()
            .ok_or_else(|| AdminError::not_found("membership", format!("{queue}/{agent}")))
    }

    /// Removes an agent from a queue.
    pub fn remove_member(&self, queue: QueueId, agent: AgentId) -> Result<(), AdminError> {
        let mut st = self.write();
        if !st.members.contains_key(&(queue, agent)) {
            return Err(AdminError::not_found(
                "membership",
                format!("{queue}/{agent}"),
            ));
        }
        self.store
            .delete(keyspace::MEMBERS, &member_key(queue, agent))?;
        st.members.remove(&(queue, agent));
        st.emit(ConfigEvent::MemberRemoved { queue, agent });
        drop(st);
        self.flush()
    }

    /// The members of a queue, by agent id.
    pub fn queue_members(&self, queue: QueueId) -> Result<Vec<QueueMember>, AdminError> {
        let st = self.read();
        if !st.queues.contains_key(&queue.0) {
            return Err(AdminError::not_found("queue", queue));
        }
        Ok(st
            .members
            .range((queue, AgentId(0))..=(queue, AgentId(u64::MAX)))
            .map(|(_, m)| m.clone())
            .collect())
    }

    /// The queues an agent is a member of.
    pub fn agent_memberships(&self, agent: AgentId) -> Result<Vec<QueueMember>, AdminError> {
        let st = self.read();
        if !st.agents.contains_key(&agent) {
            return Err(AdminError::not_found("agent", agent));
        }
        Ok(st
            .members
            .values()
            .filter(|m| m.agent == agent)
            .cloned()
            .collect())
    }

    // --------------------------------------------------------------- numbers

    fn save_number(
        &self,
        st: &mut State,
        number: String,
        settings: NumberSettings,
    ) -> Result<Number, AdminError> {
        let mut e = Errors::default();
        validate::check_number(&mut e, &number, &settings);
        match settings.target {
            Some(NumberTarget::Queue { queue }) => match st.queues.get(&queue.0) {
                None => e.push(
                    "target.queue",
                    rules::EXISTS,
                    format!("queue {queue} does not exist"),
                ),
                Some(q) => e.check(
                    q.settings.channel == crate::common::Channel::Voice,
                    "target.queue",
                    rules::CONSISTENCY,
                    || format!("queue {queue} is not a voice queue"),
                ),
            },
            Some(NumberTarget::Agent { agent }) => e.check(
                st.agents.contains_key(&agent),
                "target.agent",
                rules::EXISTS,
                || format!("agent {agent} does not exist"),
            ),
            None => {}
        }
        e.into_result()?;
        let n = Number { number, settings };
        self.put(keyspace::NUMBERS, n.number.as_bytes(), &n)?;
        st.numbers.insert(n.number.clone(), n.clone());
        st.emit(ConfigEvent::NumberUpserted(n.clone()));
        Ok(n)
    }

    /// Creates a number (DID) mapped to a voice queue or an agent.
    pub fn create_number(
        &self,
        number: &str,
        settings: NumberSettings,
    ) -> Result<Number, AdminError> {
        let mut st = self.write();
        if st.numbers.contains_key(number) {
            return Err(AdminError::conflict(
                "number",
                rules::UNIQUE,
                format!("number {number} already exists; update it instead"),
            ));
        }
        let n = self.save_number(&mut st, number.to_owned(), settings)?;
        drop(st);
        self.flush()?;
        Ok(n)
    }

    /// A number.
    pub fn number(&self, number: &str) -> Result<Number, AdminError> {
        self.read()
            .numbers
            .get(number)
            .cloned()
            .ok_or_else(|| AdminError::not_found("number", number))
    }

    /// Where calls to `number` go, if it is configured.
    pub fn route_number(&self, number: &str) -> Option<NumberTarget> {
        self.read().numbers.get(number)?.settings.target
    }

    /// Every number, in key order.
    pub fn numbers(&self) -> Vec<Number> {
        self.read().numbers.values().cloned().collect()
    }

    /// Changes the given fields of a number.
    pub fn update_number(&self, number: &str, patch: NumberPatch) -> Result<Number, AdminError> {
        let mut st = self.write();
        let mut settings = st
            .numbers
            .get(number)
            .ok_or_else(|| AdminError::not_found("number", number))?
            .settings
            .clone();
        patch.apply_to(&mut settings);
        let n = self.save_number(&mut st, number.to_owned(), settings)?;
        drop(st);
        self.flush()?;
        Ok(n)
    }

    /// Deletes a number.
    pub fn delete_number(&self, number: &str) -> Result<(), AdminError> {
        let mut st = self.write();
        if !st.numbers.contains_key(number) {
            return Err(AdminError::not_found("number", number));
        }
        self.store.delete(keyspace::NUMBERS, number.as_bytes())?;
        st.numbers.remove(number);
        st.emit(ConfigEvent::NumberDeleted(number.to_owned()));
        drop(st);
        self.flush()
    }

    // ------------------------------------------------------------------ org

    /// The organisation settings.
    pub fn org_settings(&self) -> OrgSettings {
        self.read().org.clone()
    }

    /// Changes the given organisation settings. A new extension prefix applies to agents
    /// created from then on (existing extensions stay, so registered phones keep working).
    pub fn update_org_settings(&self, patch: OrgSettingsPatch) -> Result<OrgSettings, AdminError> {
        let mut st = self.write();
        let mut org = st.org.clone();
        patch.apply_to(&mut org);
        let mut e = Errors::default();
        validate::check_org(&mut e, &org);
        e.into_result()?;
        self.put(keyspace::META, META_ORG, &org)?;
        st.org = org.clone();
        st.emit(ConfigEvent::OrgSettingsChanged(Arc::new(org.clone())));
        drop(st);
        self.flush()?;
        Ok(org)
    }
}
